"""Whether int8 on the CPU (issue 12, item 4) can be both accurate and fast here: accuracy by simulation, speed of the
int8 products PyTorch offers, beside fastenc's bf16 product.

    .venv/bin/python benchmarks/bench_cpu_int8.py [--sentences 300] [--threads 1]

Accuracy: the real all-MiniLM-L6-v2 with chosen products computed from int8-rounded operands (weights per output
channel, activations per token, symmetric, optionally SmoothQuant-smoothed with alpha 0.5 from the batch's own
activation maxima, an optimistic calibration), everything else fp32; worst per-token and per-sentence (mean-pooled)
cosine against fastenc fp32 over corpus sentences. The gate is 0.999 (the issue's). Speed: MiniLM's FFN product with
4,096 tokens ((4096 x 384) x (384 x 1536)) through oneDNN bf16 (fastenc's bf16 path), torch._int_mm (int8 x int8 ->
int32), the same with dynamic quantization and dequantization around it, and torch._weight_int8pack_mm (weight-only
int8). Writes benchmarks/results/cpu-int8-<date>.txt with the command, machine, versions and load average.
"""
import argparse
import random
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, minilm_folder  # noqa: E402
from run_record import RunRecord, corpus_lines, timed_ms  # noqa: E402

import fastenc  # noqa: E402
import fastenc.ops.cpu_linear as cpu_linear  # noqa: E402

ALL = ("qkv", "attn_out", "ffn_in", "ffn_out")
CONFIGS = [("qkv", {"qkv"}, True), ("ffn_in", {"ffn_in"}, True), ("ffn_out", {"ffn_out"}, True),
           ("qkv + ffn_in", {"qkv", "ffn_in"}, False), ("qkv + ffn_in", {"qkv", "ffn_in"}, True),
           ("qkv + ffn_in + attn_out", {"qkv", "ffn_in", "attn_out"}, True), ("all four", set(ALL), False),
           ("all four", set(ALL), True)]


def int8_rounded(x):
    """x rounded to symmetric int8 per row (per token for activations, per output channel for weights)."""
    scale = x.abs().amax(-1, keepdim=True).clamp(min=1e-8) / 127
    return (x / scale).round().clamp(-127, 127) * scale


def simulated_call(names: dict, which: set, smooth: bool):
    """A PackedLinear.__call__ computing the products named in `which` from int8-rounded operands, in fp32."""

    def call(self, x, gelu=None, residual=None):
        w = self.weight
        if names.get(id(w)) in which:
            if smooth:  # SmoothQuant, alpha 0.5: move the activation outliers into the weights per input channel
                s = (x.abs().amax(0).clamp(min=1e-5).sqrt() / w.abs().amax(0).clamp(min=1e-5).sqrt())
                x, w = x / s, w * s
            y = F.linear(int8_rounded(x), int8_rounded(w), self.bias)
        else:
            y = F.linear(x, w, self.bias)
        if gelu is not None:
            y = F.gelu(y, approximate=gelu)
        return y + residual if residual is not None else y

    return call


def accuracy(sentences, log) -> None:
    ref = fastenc.load(minilm_folder(), device="cpu")
    sim = fastenc.load(minilm_folder(), device="cpu")
    names = {id(getattr(layer, n).weight): n for layer in sim.model.encoder.layers for n in ALL}
    original = cpu_linear.PackedLinear.__call__
    log(f"accuracy: {len(sentences)} corpus sentences, worst cosine vs fastenc fp32 (gate 0.999)")
    try:
        for label, which, smooth in CONFIGS:
            worst_token, worst_sentence = 1.0, 1.0
            for i in range(0, len(sentences), 100):
                b = ref.tokenizer(sentences[i:i + 100], padding=True, truncation=True, return_tensors="pt")
                ids, mask = b["input_ids"], b["attention_mask"]
                cpu_linear.PackedLinear.__call__ = original
                exact = ref(ids, attention_mask=mask).last_hidden_state  # (B, T, H)
                cpu_linear.PackedLinear.__call__ = simulated_call(names, which, smooth)
                approx = sim(ids, attention_mask=mask).last_hidden_state
                keep = mask.bool()
                worst_token = min(worst_token, F.cosine_similarity(approx[keep], exact[keep], dim=-1).min().item())
                m = mask[..., None].float()
                pooled = F.cosine_similarity((approx * m).sum(1) / m.sum(1), (exact * m).sum(1) / m.sum(1), dim=-1)
                worst_sentence = min(worst_sentence, pooled.min().item())
            log(f"  int8 {label:26} {'smoothed' if smooth else 'plain':8}  worst token {worst_token:.6f}  "
                f"worst sentence {worst_sentence:.6f}")
    finally:
        cpu_linear.PackedLinear.__call__ = original


def speed(log) -> None:
    M, K, N = 4096, 384, 1536
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(M, K, generator=g), torch.randn(N, K, generator=g) / 20, torch.randn(N, generator=g)
    xb, bb = x.bfloat16(), b.bfloat16()
    packed = torch.ops.mkldnn._reorder_linear_weight(w.bfloat16(), 2048)
    w8 = (w * 400).round().clamp(-127, 127).to(torch.int8)  # (N, K)
    w_scale = torch.rand(N, generator=g)
    x8 = (x * 20).round().clamp(-127, 127).to(torch.int8)

    def dynamic():
        s = x.abs().amax(-1, keepdim=True) / 127  # (M, 1) per-token scales
        y = torch._int_mm((x / s).round_().to(torch.int8), w8.t())  # (M, N) int32
        return (y.float() * (s * w_scale)).add_(b)

    flops = 2 * M * K * N
    calls = {"oneDNN bf16 (fastenc bf16)": lambda: torch.ops.mkldnn._linear_pointwise(xb, packed, bb, "none", [], ""),
             "torch._int_mm int8 -> int32": lambda: torch._int_mm(x8, w8.t()),
             "torch._int_mm + dynamic quant/dequant": dynamic,
             "torch._weight_int8pack_mm (weight-only)": lambda: torch._weight_int8pack_mm(xb, w8, w_scale.bfloat16())}
    log(f"speed: ({M} x {K}) x ({K} x {N}), {torch.get_num_threads()} thread(s), median of 10")
    for label, fn in calls.items():
        ms = timed_ms(fn, 10)
        log(f"  {label:42} {ms:8.2f} ms  {flops / ms / 1e6:7.0f} GOP/s")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sentences", type=int, default=300)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    record = RunRecord("bench_cpu_int8.py", argv, args.threads)
    log = record.log
    corpus = corpus_lines()
    speed(log)
    accuracy(random.Random(5).sample(corpus, args.sentences), log)
    record.save(args.output, "cpu-int8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""This branch's CPU steps against main's behaviour, interleaved in one process, on the real all-MiniLM-L6-v2.

    .venv/bin/python benchmarks/bench_cpu_steps.py [--threads 2] [--dtypes fp32 bf16] [--job 400] [--repeats 4]

Variants, switched in place on one loaded model (so every variant sees the same weights, inputs and machine state):
`main` (reference.attention's length buckets, LayerNorm through float32 copies, GELU as a separate pass: main's code
for each, restated below), `+kernel` (main plus the CPU attention kernel), and `branch` (everything this branch does:
kernel, LayerNorm in the input dtype, bf16 GELU in oneDNN's epilogue). Workloads: (job) `embed` of corpus sentences,
(a) 64 corpus sentences in one padded batch, (b) 64 texts of 16-512 tokens in one padded batch. Each repeat runs every
variant, starting at the next one; the table gives the median and the ratio to main. Writes
benchmarks/results/cpu-steps-<date>.txt with the command, machine, versions and load average.
"""
import argparse
import contextlib
import dataclasses
import random
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, make_batch, minilm_folder, mixed_lengths  # noqa: E402
from run_record import RunRecord, corpus_lines  # noqa: E402

import fastenc  # noqa: E402
import fastenc.models.bert.layer as bert_layer  # noqa: E402
from fastenc.ops import cpu_linear  # noqa: E402

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def main_layer_norm(x, weight, bias, eps, residual=None):
    """main's reference.layer_norm: float32 copies in and out whatever the dtypes."""
    if residual is not None:
        x = x + residual
    bias = None if bias is None else bias.float()
    return F.layer_norm(x.float(), x.shape[-1:], weight.float(), bias, eps).to(x.dtype)


def main_linear_call(self, x, gelu=None, residual=None):
    """main's PackedLinear.__call__: GELU always a separate in-place pass after the product."""
    if self.packed is None or x.dtype != self.weight.dtype or x.device.type != "cpu":
        return self._unfused(x, gelu, residual)
    if residual is not None:
        return torch.ops.mkldnn._linear_pointwise.binary(x, residual, self.packed, self.bias, "add")
    y = torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")
    return torch.ops.aten.gelu_(y, approximate=gelu) if gelu is not None else y


@contextlib.contextmanager
def variant(model, name: str):
    branch_ops, branch_call, branch_kernel = model.ops, cpu_linear.PackedLinear.__call__, bert_layer.CPU_ATTENTION_KERNEL
    try:
        if name in ("main", "+kernel"):
            model.ops = dataclasses.replace(branch_ops, layer_norm=main_layer_norm)
            cpu_linear.PackedLinear.__call__ = main_linear_call
        bert_layer.CPU_ATTENTION_KERNEL = name != "main"
        yield
    finally:
        model.ops, cpu_linear.PackedLinear.__call__ = branch_ops, branch_call
        bert_layer.CPU_ATTENTION_KERNEL = branch_kernel


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    p.add_argument("--job", type=int, default=400, help="sentences of the embed job")
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    record = RunRecord("bench_cpu_steps.py", argv, args.threads)
    log = record.log
    corpus = corpus_lines()
    job = random.Random(2).sample(corpus, args.job)
    exact = fastenc.load(minilm_folder(), device="cpu")
    a = exact.tokenizer(random.Random(1).sample(corpus, 64), padding=True, truncation=True, return_tensors="pt")
    ids_b, mask_b = make_batch(mixed_lengths(64, 16, 512), exact.config.vocab_size, exact.config.pad_token_id)
    batches = {"(a) corpus64": (a["input_ids"], a["attention_mask"]), "(b) mixed64": (ids_b, mask_b)}
    names = ("main", "+kernel", "branch")
    for dtype_name in args.dtypes:
        engine = fastenc.load(minilm_folder(), device="cpu", dtype=DTYPES[dtype_name])
        workloads = {f"(job) embed{args.job}": lambda e: torch.as_tensor(e.embed(job, pooling="mean", normalize=True))}
        for label, (ids, mask) in batches.items():
            workloads[label] = lambda e, ids=ids, mask=mask: e(ids, attention_mask=mask).last_hidden_state[mask.bool()]
        for label, run in workloads.items():
            expected = run(exact).float()
            times, worst = {n: [] for n in names}, {}
            for name in names:  # warm-up and accuracy: worst row cosine to fp32 (tokens, or embeddings for the job)
                with variant(engine.model, name):
                    worst[name] = F.cosine_similarity(run(engine).float(), expected, dim=-1).min().item()
            for r in range(args.repeats):
                for name in names[r % len(names):] + names[:r % len(names)]:
                    with variant(engine.model, name):
                        start = time.perf_counter()
                        run(engine)
                        times[name].append(time.perf_counter() - start)
            base = statistics.median(times["main"])
            cells = [f"{n} {statistics.median(times[n]) * 1e3:8.1f} ms (x{base / statistics.median(times[n]):.2f}, "
                     f"cos {worst[n]:.5f})" for n in names]
            log(f"{dtype_name} {label:16} " + "  ".join(cells))
    record.save(args.output, "cpu-steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""GTE on the CPU, interleaved in one process: fastenc with BERT's fused oneDNN products (the default), fastenc with
plain F.linear products, and transformers sdpa, on the gte-base preset (benchmarks/harness.py), same inputs.

Usage: .venv/bin/python benchmarks/bench_gte_cpu.py [--batch 16] [--rounds 3]
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from harness import _build, make_batch, mixed_lengths


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--low", type=int, default=16)
    p.add_argument("--high", type=int, default=512)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    import fastenc
    from fastenc.models.bert import layer as bert_layer

    with tempfile.TemporaryDirectory() as tmp:
        hf, folder, _ = _build("gte-base", Path(tmp))
        model = fastenc.load(folder)
    hf.config._attn_implementation = "sdpa"
    hf.eval()
    lengths = mixed_lengths(args.batch, args.low, args.high)
    ids, mask = make_batch(lengths, hf.config.vocab_size, hf.config.pad_token_id)

    def fastenc_run(fused: bool):
        bert_layer.CPU_FUSED_LINEAR = fused
        return model(ids, attention_mask=mask).last_hidden_state

    def hf_run():
        with torch.inference_mode():
            return hf(input_ids=ids, attention_mask=mask).last_hidden_state

    runners = {"fastenc (fused products)": lambda: fastenc_run(True),
               "fastenc (F.linear)": lambda: fastenc_run(False), "hf-sdpa": hf_run}
    keep = mask.bool()
    reference = hf_run()
    for name, run in runners.items():  # warm-up, and each output against transformers'
        err = (run()[keep] - reference[keep]).abs().max().item()
        print(f"{name:26} max |out - transformers| {err:.1e}")
    times = {name: [] for name in runners}
    for r in range(args.rounds):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
        print(f"round {r + 1}: " + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in times.items()), flush=True)
    base = statistics.median(times["hf-sdpa"])
    print(f"\n{args.batch} texts, lengths uniform in {args.low}-{args.high} ({sum(lengths)} real tokens, padded to "
          f"{max(lengths)}), torch {torch.__version__}, {torch.get_num_threads()} threads, {args.rounds} rounds")
    for name, t in times.items():
        print(f"{name:26} median {statistics.median(t):7.2f} s   {base / statistics.median(t):.2f}x hf-sdpa")
    return 0


if __name__ == "__main__":
    sys.exit(main())

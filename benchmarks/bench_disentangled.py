"""DeBERTa's disentangled attention: the Triton kernel beside transformers' own computation of the same scores (a T x T
matrix per term, gathered, then softmax; our PyTorch reference does the same math), time and peak memory per case.

GPU only (`--dry-run` runs two tiny cases on the CPU through the Triton interpreter, to check the plumbing):

    .venv/bin/python benchmarks/bench_disentangled.py [--dtype bf16] [--dry-run]

Prints one row per case and writes JSON under benchmarks/results/ (device, versions, date, command inside).
"""
import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
# (batch, seqlen, heads, head_dim, buckets): deberta-v3-base/large attention shapes, short to long.
CASES = [(32, 128, 12, 64, 256), (16, 512, 12, 64, 256), (8, 512, 16, 64, 256), (4, 1024, 12, 64, 256)]
DRY_CASES = [(2, 40, 2, 32, 8), (1, 70, 1, 64, 16)]


def timed(fn, device):
    """(median ms, peak MB above what was allocated before) of fn()."""
    if device == "cpu":
        import time

        fn()
        start = time.perf_counter()
        fn()
        return (time.perf_counter() - start) * 1e3, None
    import triton.testing

    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    return triton.testing.do_bench(fn), peak


def run_case(case, dtype, device):
    from fastenc.kernels import disentangled_attention as kernel
    from fastenc.ops.disentangled import disentangled_attention as reference
    from fastenc.ops.disentangled import relative_index

    B, T, nh, hd, buckets = case
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, T, nh, hd, generator=g).to(device=device, dtype=dtype) for _ in range(3))
    pos_key, pos_query = (torch.randn(2 * buckets, nh, hd, generator=g).to(device=device, dtype=dtype)
                          for _ in range(2))
    index = relative_index(T, buckets, buckets, 512, device=device)
    args = dict(relative_index=index, softmax_scale=(hd * 3) ** -0.5)
    ours = lambda: kernel(q, k, v, pos_key, pos_query, check=False, **args)  # noqa: E731
    theirs = lambda: reference(q, k, v, pos_key, pos_query, **args)  # noqa: E731
    err = (ours().float() - theirs().float()).abs().max().item()
    (ms, mem), (ref_ms, ref_mem) = timed(ours, device), timed(theirs, device)
    return dict(case=f"{B}x{T} nh={nh} hd={hd} buckets={buckets}", kernel_ms=ms, torch_ms=ref_ms,
                speedup=ref_ms / ms, kernel_peak_mb=mem, torch_peak_mb=ref_mem, max_abs_diff=err)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], default="bf16")
    p.add_argument("--dry-run", action="store_true", help="tiny cases on the CPU through the Triton interpreter")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.dry_run:  # fp32: the bare interpreter multiplies bf16 bits (tests/helpers/triton_interpreter.py)
        os.environ["TRITON_INTERPRET"] = "1"  # before fastenc.kernels is imported
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "helpers"))
        from triton_interpreter import mend  # the interpreter's known bugs, fixed as the tests fix them

        mend()
        device, cases, args.dtype = "cpu", DRY_CASES, "fp32"
    elif torch.cuda.is_available():
        device, cases = "cuda", CASES
    else:
        print("bench_disentangled needs a CUDA GPU (or --dry-run)", file=sys.stderr)
        return 2
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "cpu"
    print(f"disentangled attention on {name}, {args.dtype}, torch {torch.__version__}")
    rows = []
    for case in cases:
        rows.append(run_case(case, dtype, device))
        r = rows[-1]
        mem = (f"{r['kernel_peak_mb']:8.1f} MB vs {r['torch_peak_mb']:8.1f} MB" if r["kernel_peak_mb"] is not None
               else "memory: -")
        print(f"{r['case']:40} kernel {r['kernel_ms']:8.3f} ms  torch {r['torch_ms']:8.3f} ms  "
              f"{r['speedup']:5.2f}x  {mem}  max diff {r['max_abs_diff']:.1e}", flush=True)
    stamp = datetime.datetime.now(datetime.timezone.utc)
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / f"disentangled-{'dry' if args.dry_run else 'gpu'}-{args.dtype}-{stamp:%Y%m%d-%H%M%S}.json"
    meta = dict(device=name, dtype=args.dtype, date=stamp.isoformat(), torch=torch.__version__,
                command="benchmarks/bench_disentangled.py " + " ".join(sys.argv[1:] if argv is None else argv))
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

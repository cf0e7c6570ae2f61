"""Host time of one kernel call: through PyTorch's dispatcher (the custom op) or the launcher called directly.

    python benchmarks/bench_dispatch.py [--calls 20000] [--out FILE]

fastenc.kernels runs each launcher directly on eager calls and only goes through `torch.ops.fastenc.*` while
torch.compile traces (`_utils.KernelOp`). This measures what that saves per call, in microseconds of host time:
on any machine for an op whose launcher only allocates its output (the dispatcher's own cost, in and out of
inference mode), and on a GPU also for fastenc's LayerNorm kernel at a tiny shape (the launch is asynchronous, so
the host time is what a forward spends enqueueing it). Best of five rounds of `--calls` calls each.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

from run_record import RunRecord


@torch.library.custom_op("fastenc_bench::allocate", mutates_args=())
def _allocate_op(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def _allocate(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def per_call_us(fn, calls: int) -> float:
    for _ in range(min(calls, 1000)):
        fn()
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, time.perf_counter() - start)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return best / calls * 1e6


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=20000)
    p.add_argument("--results", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args(argv)
    record = RunRecord("benchmarks/bench_dispatch.py", argv, torch.get_num_threads())
    rows = []
    x = torch.zeros(8)
    for mode in ("inference_mode", "grad_mode"):
        context = torch.inference_mode() if mode == "inference_mode" else torch.enable_grad()
        with context:
            op = per_call_us(lambda: _allocate_op(x), args.calls)
            direct = per_call_us(lambda: _allocate(x), args.calls)
        rows.append(dict(case=f"allocate-only op, cpu, {mode}", custom_op_us=op, direct_us=direct,
                         saved_us=op - direct))
    if torch.cuda.is_available():
        import importlib

        layer_norm = importlib.import_module("fastenc.kernels.layer_norm")._layer_norm_op  # its KernelOp
        h = torch.randn(4, 64, device="cuda", dtype=torch.bfloat16)
        w, b = torch.ones(64, device="cuda"), torch.zeros(64, device="cuda")
        with torch.inference_mode():
            layer_norm.launch(h, w, b, 1e-5, None)  # compiles the kernel before timing
            op = per_call_us(lambda: layer_norm.op(h, w, b, 1e-5, None), args.calls // 10)
            direct = per_call_us(lambda: layer_norm.launch(h, w, b, 1e-5, None), args.calls // 10)
        rows.append(dict(case="fastenc layer_norm (4, 64) bf16, cuda, inference_mode", custom_op_us=op,
                         direct_us=direct, saved_us=op - direct))
    record.log(f"{'case':<56} {'custom op us':>13} {'direct us':>10} {'saved us':>9}")
    for r in rows:
        record.log(f"{r['case']:<56} {r['custom_op_us']:13.2f} {r['direct_us']:10.2f} {r['saved_us']:9.2f}")
    record.save(args.results, "dispatch")
    return 0


if __name__ == "__main__":
    sys.exit(main())

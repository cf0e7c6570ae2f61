"""Where fastenc's time goes on the GPU (issue 13, item 4): one profiled call per case, summarised for the report.

    python benchmarks/gpu_profile.py --out profile.json [--trace-dir DIR] [--dry-run]

Cases (bf16, roberta-large-shaped random weights, fastenc only): the mixed batch of 64 texts of 16-512 tokens, and
1 x 128 eager (no CUDA graphs, where host overhead shows). Each model is warmed up first (autotuning, allocator), then
one call runs under torch.profiler. Per case: the call's wall time; GPU busy time (the union of kernel and copy
intervals) and its share of the wall; kernels launched; the top kernels by total time; the largest idle gaps between
consecutive GPU intervals (launch gaps, host stalls); every host sync seen (stream, device and event
synchronisations, blocking copies; less the one that ends the timed call) and the scalar reads (`aten::item`, free on
host tensors). The Chrome traces go to --trace-dir.
`--dry-run`: a tiny model on the CPU (no GPU intervals, so only the host side): a plumbing check, not a measurement.
"""
import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from gpu_bench import build_models
from harness import make_batch, mixed_lengths

GPU_CATEGORIES = ("kernel", "gpu_memcpy", "gpu_memset")
# Runtime calls that make the host wait for the device; a cudaMemcpy without Async is blocking by definition.
SYNC_CALLS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "cudaMemcpy",
              "cudaMemcpy2D")
TOP = 15


def cases(dry_run: bool) -> list:
    """(name, lengths, cuda graphs) of the profiled calls."""
    scale = 8 if dry_run else 1
    return [(f"roberta-large mixed {64 // scale}x16-512", mixed_lengths(64 // scale, 16 // scale, 512 // scale)),
            (f"roberta-large 1x{128 // scale} eager", [128 // scale])]


def summarise(trace: dict, wall_ms: float) -> dict:
    """The report's numbers from a Chrome trace (torch.profiler's export): see the module docstring."""
    events = [e for e in trace.get("traceEvents", []) if e.get("ph") == "X"]
    gpu = sorted((e for e in events if e.get("cat") in GPU_CATEGORIES), key=lambda e: e["ts"])
    busy_us, gaps, end = 0.0, [], None
    for e in gpu:
        start, stop = float(e["ts"]), float(e["ts"]) + float(e.get("dur", 0))
        if end is None or start >= end:
            if end is not None:
                gaps.append((start - end, e["name"]))
            busy_us += stop - start
            end = stop
        elif stop > end:  # overlapping intervals (streams): count the union only
            busy_us += stop - end
            end = stop
    kernels = {}
    for e in gpu:
        k = kernels.setdefault(e["name"], [0, 0.0])
        k[0] += 1
        k[1] += float(e.get("dur", 0))
    top = sorted(kernels.items(), key=lambda kv: -kv[1][1])[:TOP]
    syncs, scalar_reads = {}, 0
    for e in events:
        name = e.get("name", "")
        if e.get("cat") in ("cuda_runtime", "cuda_driver") and name in SYNC_CALLS:
            syncs[name] = syncs.get(name, 0) + 1
        scalar_reads += e.get("cat") == "cpu_op" and name == "aten::item"
    launches = sum(1 for e in events if e.get("cat") in ("cuda_runtime", "cuda_driver")
                   and ("LaunchKernel" in e.get("name", "") or "cuLaunch" in e.get("name", "")))
    return {
        "wall_ms": wall_ms,
        "gpu_busy_ms": busy_us / 1e3,
        "gpu_busy_share": busy_us / 1e3 / wall_ms if wall_ms and gpu else None,
        "gpu_intervals": len(gpu),
        "kernel_launches": launches,
        "top_kernels": [dict(name=name[:120], calls=calls, total_ms=us / 1e3,
                             share_of_busy=us / busy_us if busy_us else None) for name, (calls, us) in top],
        "largest_gaps": [dict(gap_us=gap, before=name[:120]) for gap, name in sorted(gaps, reverse=True)[:10]],
        "gaps_over_10us": sum(1 for gap, _ in gaps if gap > 10),
        "idle_in_gaps_ms": sum(gap for gap, _ in gaps) / 1e3,
        "host_syncs": syncs,
        "scalar_reads": scalar_reads,  # aten::item on any tensor: free on host tensors, a sync (above) on device ones
    }


def profile_case(model, lengths, device, trace_dir: Path | None, name: str) -> dict:
    from torch.profiler import ProfilerActivity, profile

    cfg = model.config
    ids, mask = make_batch(lengths, cfg.vocab_size, cfg.pad_token_id)

    def call():  # CPU inputs, as the tokenizer leaves them
        return model(ids, attention_mask=mask, run_head=False)

    with torch.inference_mode():
        for _ in range(3):  # autotuning, allocator pools, pinned host buffers
            call()
        if device.type == "cuda":
            torch.cuda.synchronize()
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
        with profile(activities=activities) as prof:
            start = time.perf_counter()
            call()
            if device.type == "cuda":
                torch.cuda.synchronize()
            wall_ms = (time.perf_counter() - start) * 1e3
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(path))
        trace = json.loads(path.read_text())
    if trace_dir is not None:
        trace_dir.mkdir(parents=True, exist_ok=True)
        stem = "".join(c if c.isalnum() else "-" for c in name).strip("-")
        with gzip.open(trace_dir / f"{stem}.json.gz", "wt") as f:
            json.dump(trace, f)
    found = summarise(trace, wall_ms)
    if device.type == "cuda":  # the synchronize that ends the timed call is this script's, not fastenc's
        syncs = found["host_syncs"]
        syncs["cudaDeviceSynchronize"] = syncs.get("cudaDeviceSynchronize", 0) - 1
        if syncs["cudaDeviceSynchronize"] <= 0:
            del syncs["cudaDeviceSynchronize"]
    return dict(case=name, batch=len(lengths), real_tokens=sum(lengths), **found)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--trace-dir", type=Path, default=None, help="where the gzipped Chrome traces go")
    p.add_argument("--dry-run", action="store_true", help="CPU, a tiny model: proves the plumbing only")
    p.add_argument("--dtype", choices=["bf16", "fp16"], default="bf16")
    args = p.parse_args(argv)
    device = torch.device("cpu" if args.dry_run else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_profile: no CUDA device here (use --dry-run for the CPU plumbing check)", file=sys.stderr)
        return 2
    import fastenc

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    report = dict(dry_run=args.dry_run, dtype=args.dtype, cases=[])
    with tempfile.TemporaryDirectory() as tmp:
        _, folder = build_models("roberta-large", args.dry_run, Path(tmp))
        model = fastenc.load(folder, device=device, dtype=dtype)
        for name, lengths in cases(args.dry_run):
            result = profile_case(model, lengths, device, args.trace_dir, name)
            report["cases"].append(result)
            share = result["gpu_busy_share"]
            print(f"{name:<32} wall {result['wall_ms']:8.2f} ms  GPU busy {result['gpu_busy_ms']:8.2f} ms"
                  f" ({'-' if share is None else f'{share:.0%}'})  launches {result['kernel_launches']}"
                  f"  syncs {result['host_syncs'] or 'none'}", flush=True)
            for k in result["top_kernels"][:8]:
                print(f"    {k['total_ms']:8.3f} ms  x{k['calls']:<4} {k['name'][:90]}", flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

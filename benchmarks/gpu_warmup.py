"""Warm-up of a new process: from interpreter start to a model ready to serve, with an empty and a warm Triton cache.

    python benchmarks/gpu_warmup.py --out warmup.json [--dry-run]

A roberta-large-shaped model (random weights) is saved once; then a fresh Python process, twice with one new Triton
cache folder (TRITON_CACHE_DIR; empty the first time, "cold", filled by it the second time, "warm"), imports fastenc,
loads the model, runs one mixed batch of 64 texts of 16-512 tokens (attention autotunes once per length bucket) and,
on CUDA, captures the CUDA graphs of 8 small-batch buckets. Each child prints its phases; the parent also times the
whole process. `--dry-run`: a tiny model on the CPU, no graphs: a plumbing check, not a measurement.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRAPH_BUCKETS = [(b, t) for b in (1, 8) for t in (32, 64, 128, 256)]


def child(folder: str, device: str) -> dict:
    """Runs in the fresh process: the seconds each step of the warm-up took."""
    start = time.perf_counter()
    import torch

    import fastenc
    from harness import make_batch, mixed_lengths

    steps = {"import_s": time.perf_counter() - start}
    t = time.perf_counter()
    model = fastenc.load(folder, device=device)
    steps["load_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ids, mask = make_batch(mixed_lengths(64, 16, min(512, model.max_length)), model.config.vocab_size,
                           model.config.pad_token_id)
    model(ids, attention_mask=mask, run_head=False)
    if device == "cuda":
        torch.cuda.synchronize()
    steps["first_mixed_batch_s"] = time.perf_counter() - t
    if device == "cuda":
        t = time.perf_counter()
        model.enable_cuda_graphs()
        for b, length in GRAPH_BUCKETS:
            ids, mask = make_batch([length] * b, model.config.vocab_size, model.config.pad_token_id)
            model(ids, attention_mask=mask, run_head=False)
        torch.cuda.synchronize()
        steps["graph_capture_s"] = time.perf_counter() - t
        steps["graph_buckets"] = len(model.graphs.capture_seconds)
    steps["ready_s"] = time.perf_counter() - start
    return steps


def parent(args) -> int:
    import torch

    from gpu_bench import build_models

    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("gpu_warmup: no CUDA device here (use --dry-run for the CPU plumbing check)", file=sys.stderr)
        return 2
    report = {"dry_run": args.dry_run, "model": "roberta-large shape, random weights", "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        _, folder = build_models("roberta-large", args.dry_run, Path(tmp))
        env = {**os.environ, "TRITON_CACHE_DIR": str(Path(tmp) / "triton-cache"),
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
        for run in ("cold", "warm"):
            t = time.perf_counter()
            done = subprocess.run([sys.executable, __file__, "--child", str(folder), device], env=env,
                                  capture_output=True, text=True, timeout=args.child_timeout)
            wall = time.perf_counter() - t
            sys.stderr.write(done.stderr[-3000:])
            if done.returncode != 0:
                report["runs"][run] = {"error": done.stderr.strip().splitlines()[-1:], "process_s": wall}
                continue
            report["runs"][run] = {**json.loads(done.stdout.strip().splitlines()[-1]), "process_s": wall}
            print(f"{run:5} process {wall:7.2f} s  " + "  ".join(
                f"{k} {v:.2f}" for k, v in report["runs"][run].items() if k.endswith("_s")), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0 if all("error" not in r for r in report["runs"].values()) else 1


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        print(json.dumps(child(argv[1], argv[2])))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--child-timeout", type=float, default=240)
    return parent(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

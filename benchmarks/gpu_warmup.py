"""Warm-up of a new process: from interpreter start to a model ready to serve, searching, with a table, and warm.

    python benchmarks/gpu_warmup.py --out warmup.json [--tuned-table-out FILE] [--dry-run]

A roberta-large-shaped model (random weights) is saved once; then three fresh Python processes each import fastenc,
load the model, run one mixed batch of 64 texts of 16-512 tokens (attention autotunes once per length bucket) and,
on CUDA, capture the CUDA graphs of 8 small-batch buckets:
- "cold": an empty Triton cache (TRITON_CACHE_DIR) and no autotuning table (FASTENC_TUNED_TABLE=0): every new key
  searches all configurations. It dumps its winners (fastenc.kernels.tuned.write_table; a copy to --tuned-table-out).
- "cold_table": another empty cache, and that dump as the table: one configuration compiled per key.
- "warm": cold_table's cache again, same table: what a process meets once a table is committed and the cache filled.
Each child prints its phases and how many keys the table served or were searched; the parent also times the whole
process, and rewrites the JSON after each run. `--budget S` caps the three together (each child gets what is left of
it, so a slow cold run is recorded as timed out instead of the caller's limit killing the script); `--fallback-table
FILE` (the model benchmark's dump) serves cold_table and warm when the cold run wrote none. `--dry-run`: a tiny
model on the CPU, no graphs, no tuning (the interpreter has one configuration per kernel): a plumbing check, not a
measurement.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRAPH_BUCKETS = [(b, t) for b in (1, 8) for t in (32, 64, 128, 256)]


def child(folder: str, device: str, dump: str) -> dict:
    """Runs in the fresh process: the seconds each step of the warm-up took; its winners to `dump` unless "-"."""
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
    from fastenc.kernels import tuned

    steps["autotune_keys"] = dict(tuned.LOOKUPS)  # served by the table / searched over several configurations
    if dump != "-":
        tuned.write_table(dump)
    return steps


def runs(tmp: Path) -> list:
    """(name, Triton cache folder, FASTENC_TUNED_TABLE, file to dump the winners to or None) of each child, in order."""
    dump = tmp / "tuned-cold.json"
    return [("cold", tmp / "cache-search", "0", dump),
            ("cold_table", tmp / "cache-table", str(dump), None),
            ("warm", tmp / "cache-table", str(dump), None)]


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
        path = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
        deadline = time.monotonic() + args.budget
        for run, cache, table, dump in runs(Path(tmp)):
            label = {"0": "off", "1": "committed"}.get(table, "the cold run's")
            if table not in ("0", "1") and not Path(table).is_file():
                # The search wrote no table (it failed or timed out): the fallback's, else the committed one, if any.
                fallback = args.fallback_table and args.fallback_table.is_file()
                table, label = (str(args.fallback_table), "the fallback's") if fallback else ("1", "committed")
            env = {**os.environ, "TRITON_CACHE_DIR": str(cache), "FASTENC_TUNED_TABLE": table, "PYTHONPATH": path}
            t = time.perf_counter()
            limit = min(args.child_timeout, deadline - time.monotonic())
            try:
                if limit < 2:
                    raise subprocess.TimeoutExpired(run, 0)
                done = subprocess.run([sys.executable, __file__, "--child", str(folder), device, str(dump or "-")],
                                      env=env, capture_output=True, text=True, timeout=limit)
            except subprocess.TimeoutExpired:
                why = f"timed out after {limit:.0f} s" if limit >= 2 else "skipped: the budget was spent"
                done = subprocess.CompletedProcess([], -9, "", f"{run}: {why}\n")
            wall = time.perf_counter() - t
            sys.stderr.write(done.stderr[-3000:])
            if done.returncode != 0:
                report["runs"][run] = {"error": done.stderr.strip().splitlines()[-1:], "process_s": wall}
            else:
                report["runs"][run] = {**json.loads(done.stdout.strip().splitlines()[-1]), "process_s": wall,
                                       "table": label}
                print(f"{run:10} process {wall:7.2f} s  " + "  ".join(
                    f"{k} {v:.2f}" for k, v in report["runs"][run].items() if k.endswith("_s")) +
                    f"  keys {report['runs'][run]['autotune_keys']}", flush=True)
            if dump and dump.is_file() and args.tuned_table_out:
                args.tuned_table_out.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(dump, args.tuned_table_out)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(report, indent=1) + "\n")  # after each run: a cut phase keeps its part
    return 0 if all("error" not in r for r in report["runs"].values()) else 1


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        print(json.dumps(child(*argv[1:4])))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--tuned-table-out", type=Path, help="copy of the cold run's autotuning winners")
    p.add_argument("--child-timeout", type=float, default=240, help="seconds one child may take")
    p.add_argument("--budget", type=float, default=600, help="seconds all three children may take together")
    p.add_argument("--fallback-table", type=Path, help="table for cold_table and warm if the cold run wrote none")
    return parent(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

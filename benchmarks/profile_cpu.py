"""Where fastenc's CPU time goes (issue 12): torch.profiler per-op tables and the FLOP/s of every matrix product.

    .venv/bin/python benchmarks/profile_cpu.py [--threads 2] [--dtype fp32|bf16] [--job 500] [--model bert-base] [--tag name]

Workloads, real all-MiniLM-L6-v2 (or `--model bert-base`, random weights): (job) `embed` of corpus sentences with its
default batching (padding-free, packed token-budget batches); (padded-free) 64 corpus sentences as one padded batch through `model(ids, mask)` (packed
inside); (padded) the same batch with `padding_free = False` (fixed-length path, key-padding mask). For each: wall time,
the profiler's table sorted by self CPU time, and each matrix-product op's achieved GFLOP/s (profiler FLOP counts over
its self CPU time) beside a matrix-product peak measured in the same run ((2048 x 384) x (384 x 1536), fp32 and bf16).
Writes benchmarks/results/cpu-profile-<tag>-<date>.txt with the machine, versions, load average and command.
"""
import argparse
import datetime
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS, find_corpus, minilm_folder  # noqa: E402

import fastenc  # noqa: E402

MATMUL_OPS = ("aten::addmm", "aten::mm", "aten::bmm", "aten::linear", "mkldnn::_linear_pointwise",
              "aten::_scaled_dot_product_flash_attention_for_cpu")


def corpus_sentences(count: int, seed: int) -> list:
    lines = [line for path in sorted(find_corpus().glob("*.txt"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return random.Random(seed).sample(lines, count)


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def matmul_peak(dtype: torch.dtype, repeats: int = 10) -> dict:
    """GFLOP/s of F.linear and of oneDNN's packed linear on MiniLM's FFN shape with 2,048 tokens."""
    M, K, N = 2048, 384, 1536
    x, w, b = torch.randn(M, K, dtype=dtype), torch.randn(N, K, dtype=dtype), torch.randn(N, dtype=dtype)
    packed = torch.ops.mkldnn._reorder_linear_weight(w, M) if torch.backends.mkldnn.is_available() else None
    found = {"F.linear": 2 * M * K * N / median_seconds(lambda: F.linear(x, w, b), repeats) / 1e9}
    if packed is not None:
        found["onednn packed"] = 2 * M * K * N / median_seconds(
            lambda: torch.ops.mkldnn._linear_pointwise(x, packed, b, "none", [], ""), repeats) / 1e9
    return found


def _flops(event) -> float:
    """The profiler's FLOP count; for oneDNN's linear (which it does not count) 2 * M * K * N from the shapes:
    input (..., K) and weight (N, K), the weight second (third in the `.binary` overload: X, other, W, B, attr)."""
    if event.flops:
        return float(event.flops)
    shapes = event.input_shapes
    if event.key == "mkldnn::_linear_pointwise" and len(shapes) >= 5:
        x, w = shapes[0], shapes[2] if len(shapes) == 5 else shapes[1]
        rows = 1
        for d in x[:-1]:
            rows *= d
        return 2.0 * rows * w[0] * w[1] * event.count
    return 0.0


def profile(fn, label: str, peak: float, rows: int, log) -> None:
    fn()  # warm-up outside the profile
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], record_shapes=True,
                                with_flops=True) as prof:
        fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) / 1e3
    log(f"\n### {label}: profiled call {total:.1f} ms of self CPU time (all ops)")
    log(events.table(sort_by="self_cpu_time_total", row_limit=rows, max_name_column_width=48))
    log(f"matrix products by shape (GFLOP/s = profiler FLOPs / self CPU time; peak {peak:.0f} GFLOP/s):")
    by_shape = prof.key_averages(group_by_input_shape=True)
    products = [e for e in by_shape if e.key in MATMUL_OPS and e.self_cpu_time_total > 0]
    products.sort(key=lambda e: -e.self_cpu_time_total)
    flops = sum(_flops(e) for e in products)
    ms = sum(e.self_cpu_time_total for e in products) / 1e3
    for e in products[:rows]:
        rate = _flops(e) / (e.self_cpu_time_total * 1e3)
        log(f"  {e.key:48} x{e.count:<4} {e.self_cpu_time_total / 1e3:8.2f} ms {rate:7.1f} GFLOP/s "
            f"({rate / peak:5.1%})  {str(e.input_shapes)[:90]}")
    log(f"  all products: {ms:.1f} ms of {total:.1f} ({ms / max(total, 1e-9):.0%}), "
        f"{flops / max(ms * 1e6, 1e-9):.1f} GFLOP/s where FLOPs are counted")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--job", type=int, default=500, help="sentences of the embed job")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--rows", type=int, default=25, help="rows of each table")
    p.add_argument("--model", default="minilm", choices=("minilm", "bert-base"),
                   help="the real MiniLM, or the peer benchmark's random bert-base-shaped weights")
    p.add_argument("--tag", default="", help="a word in the output file name (e.g. before/after)")
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    lines = []

    def log(line=""):
        print(line, flush=True)
        lines.append(line)

    stamp = datetime.datetime.now(datetime.timezone.utc)
    log(f"profile_cpu.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    log(f"{stamp:%Y-%m-%d %H:%M:%S} UTC  {platform.processor() or platform.machine()}  threads {args.threads}  "
        f"load average before {os.getloadavg()}")
    log(f"torch {torch.__version__}  fastenc {fastenc.__version__}  MKL {torch.backends.mkl.is_available()}  "
        f"oneDNN {torch.backends.mkldnn.is_available()}  ATen CPU capability {torch.backends.cpu.get_cpu_capability()}")
    peaks = {name: matmul_peak(d) for name, d in (("fp32", torch.float32), ("bf16", torch.bfloat16))}
    for name, found in peaks.items():
        log(f"matmul peak {name} (2048x384)x(384x1536): " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in found.items()))
    peak = max(peaks[args.dtype].values())

    if args.model == "minilm":
        folder = minilm_folder()
    else:
        from bench_cpu_peers import prepare_model
        folder = prepare_model(args.model, Path(tempfile.mkdtemp()))[0]
    model = fastenc.load(folder, device="cpu", dtype=dtype)
    job = corpus_sentences(args.job, seed=2)
    batch = model.tokenizer(corpus_sentences(64, seed=1), padding=True, truncation=True, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]

    def run_job():
        return model.embed(job, pooling="mean", normalize=True)

    def run_batch():
        return model(ids, attention_mask=mask).last_hidden_state

    def run_padded():
        model.padding_free = False
        try:
            return model(ids, attention_mask=mask).last_hidden_state
        finally:
            model.padding_free = True

    tokens = int(mask.sum())
    job_tokens = int(sum(len(r) for r in model.tokenizer(job, truncation=True)["input_ids"]))
    workloads = {f"job: embed of {args.job} corpus sentences ({job_tokens} tokens)": run_job,
                 f"padded-free: 64 sentences, one padded batch {tuple(ids.shape)}, {tokens} real tokens": run_batch,
                 "padded: the same batch, fixed-length path (padding_free=False)": run_padded}
    for label, fn in workloads.items():
        log(f"wall: {label}: median {median_seconds(fn, args.repeats) * 1e3:.1f} ms of {args.repeats}")
    for label, fn in workloads.items():
        profile(fn, label, peak, args.rows, log)
    log(f"\nload average after {os.getloadavg()}")
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / f"cpu-profile-{args.dtype}{'-' + args.tag if args.tag else ''}-{stamp:%Y%m%d-%H%M%S}.txt"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

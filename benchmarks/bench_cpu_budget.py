"""A sweep of embed() batch shapes on the CPU: max_batch_tokens and batch_size, interleaved in one process.

    T=2 JOB=400 R=3 [ONLY=tok2048,tok4096] [DT=bfloat16] [MODEL=bert-base] .venv/bin/python benchmarks/bench_cpu_budget.py

The real MiniLM (or MODEL=bert-base: the peer benchmark's random bert-base-shaped weights), JOB corpus sentences (seeded sample), mean pooling; each configuration is warmed up on 200 sentences,
then the job runs R rounds, round r starting at configuration r (round-robin). Prints min and median per
configuration and the ratio of minima to the 2,048-token budget. Under a loaded machine prefer the minima.
"""
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import find_corpus, minilm_folder  # noqa: E402

import fastenc  # noqa: E402
from fastenc.tasks.batching import default_batch_tokens, widest_activation_bytes  # noqa: E402

CONFIGS = {"tok1024": dict(max_batch_tokens=1024), "tok2048": dict(max_batch_tokens=2048),
           "tok4096": dict(max_batch_tokens=4096), "tok8192": dict(max_batch_tokens=8192),
           "bs32": dict(batch_size=32), "bs64": dict(batch_size=64)}


def main() -> None:
    torch.set_num_threads(int(os.environ.get("T", "2")))
    lines = [line for path in sorted(find_corpus().glob("*.txt"))
             for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    job = random.Random(2).sample(lines, int(os.environ.get("JOB", "1000")))
    dtype = getattr(torch, os.environ.get("DT", "float32"))
    if os.environ.get("MODEL", "minilm") == "minilm":
        folder = minilm_folder()
    else:
        from bench_cpu_peers import prepare_model
        folder = prepare_model(os.environ["MODEL"], Path(tempfile.mkdtemp()))[0]
    model = fastenc.load(folder, device="cpu", dtype=dtype)
    print("model", os.environ.get("MODEL", "minilm"), "default budget",
          default_batch_tokens("cpu", widest_activation_bytes(model)))
    only = os.environ.get("ONLY")
    configs = {k: v for k, v in CONFIGS.items() if not only or k in only.split(",")}
    for kwargs in configs.values():
        model.embed(job[:200], pooling="mean", **kwargs)  # warm-up
    names, times = list(configs), {}
    for r in range(int(os.environ.get("R", "3"))):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            model.embed(job, pooling="mean", normalize=True, **configs[name])
            times.setdefault(name, []).append(time.perf_counter() - start)
    print("load", os.getloadavg(), "dtype", dtype, "job", len(job))
    base = min(times["tok2048"]) if "tok2048" in times else None
    for name in names:
        best = min(times[name])
        ratio = f"x{base / best:.2f} vs tok2048" if base else "-"
        print(f"{name:8} min {best * 1e3:8.0f} ms ({ratio})  median {statistics.median(times[name]) * 1e3:8.0f}  "
              f"{[round(x * 1e3) for x in times[name]]}")


if __name__ == "__main__":
    main()

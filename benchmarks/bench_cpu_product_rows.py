"""bert-base's four products on the CPU (oneDNN, prepacked weights, a fresh output per call as in the model) by row
count: where an output passes glibc's 32 MiB mmap ceiling, each call page-faults a fresh buffer.

    .venv/bin/python benchmarks/bench_cpu_product_rows.py
    MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824 .venv/bin/python benchmarks/bench_cpu_product_rows.py

2 threads, fp32, median of 8 calls after a warm-up; prints GFLOP/s per (K, N) and row count M, and the output size at M = 4,096.
"""
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_record import timed_ms  # noqa: E402

SHAPES = ((768, 2304), (768, 768), (768, 3072), (3072, 768))  # (in, out): QKV, attention out, FFN in, FFN out
ROWS = (1024, 2048, 4096)


def main() -> None:
    torch.set_num_threads(2)
    print("torch", torch.__version__, "threads 2, load", os.getloadavg(),
          "MALLOC_MMAP_THRESHOLD_", os.environ.get("MALLOC_MMAP_THRESHOLD_", "unset"))
    for K, N in SHAPES:
        w, b = torch.randn(N, K), torch.randn(N)
        packed = torch.ops.mkldnn._reorder_linear_weight(w, 2048)
        cells = []
        for M in ROWS:
            x = torch.randn(M, K)
            ms = timed_ms(lambda: torch.ops.mkldnn._linear_pointwise(x, packed, b, "none", [], ""), repeats=8)
            cells.append(f"M {M}: {2 * M * K * N / ms / 1e6:5.0f} GFLOP/s")
        print(f"({K:4} -> {N:4}) output at 4096 rows {4096 * N * 4 / 2**20:4.0f} MiB  " + "  ".join(cells))


if __name__ == "__main__":
    main()

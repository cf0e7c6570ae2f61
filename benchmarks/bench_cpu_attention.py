"""The CPU attention kernel (fastenc.ops.cpu_attention) beside reference.attention's length buckets, by batch shape.

    .venv/bin/python benchmarks/bench_cpu_attention.py [--threads 1]

Random packed Q, K, V (12 heads of 32, MiniLM's) as views of one fused (N, 3H) product, as the layers pass them.
Shapes: ~4,096-token batches of similar lengths (an `embed` job's length-sorted batches) from 38-48 to 307-384 tokens,
and the padded batches of the peer benchmark as packed sequences (64 corpus-like lengths 8-188, 64 lengths 16-512), and
a lone sequence of 128 and of 512 tokens.
Each cell: best of two interleaved rounds of 8 calls (25th percentile within a round). These numbers set
fastenc.models.bert.layer's choice (`_kernel_wins`). Writes benchmarks/results/cpu-attention-<date>.txt.
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import RESULTS  # noqa: E402
from run_record import RunRecord, timed_ms  # noqa: E402

from fastenc.ops import cpu_attention, reference  # noqa: E402

NH, HD = 12, 32


def shapes(g):
    for L in (48, 96, 128, 192, 256, 384):
        B = max(2, 4096 // L)
        yield f"alike {int(L * 0.8)}-{L} x{B}", torch.randint(int(L * 0.8), L + 1, (B,), generator=g)
    yield "corpus-like 8-188 x64", torch.randint(8, 189, (64,), generator=g)
    yield "mixed 16-512 x64", torch.randint(16, 513, (64,), generator=g)
    for L in (128, 512):  # a lone sequence: the reference reads it in place, no buckets
        yield f"lone {L} x1", torch.tensor([L])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    record = RunRecord("bench_cpu_attention.py", argv, args.threads)
    log = record.log
    log(f"kernel code path: {cpu_attention.isa()}")
    g = torch.Generator().manual_seed(0)
    for label, lengths in shapes(g):
        cu = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)]).int()
        N, longest = int(cu[-1]), int(lengths.max())
        cells = []
        for dtype in (torch.float32, torch.bfloat16):
            qkv = torch.randn(N, 3 * NH * HD, generator=g).to(dtype)
            q, k, v = qkv.view(N, 3, NH, HD).unbind(1)  # (N, nh, hd) each
            rounds = [(timed_ms(lambda: reference.attention(q, k, v, cu_seqlens=cu, max_seqlen=longest), 8, 0.25),
                       timed_ms(lambda: cpu_attention.varlen_attention(q, k, v, cu), 8, 0.25)) for _ in range(2)]
            buckets, kernel = min(r[0] for r in rounds), min(r[1] for r in rounds)
            cells.append(f"{str(dtype).removeprefix('torch.'):8} buckets {buckets:7.2f} ms  kernel {kernel:7.2f} ms "
                         f"(kernel x{buckets / kernel:.2f})")
        log(f"{label:24} N={N:5}  " + " | ".join(cells))
    record.save(args.output, "cpu-attention")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""MPNet's relative position bias on the CPU path: the per-bucket bias + key mask summed once per batch (what
fastenc.ops.reference does) against summing them again in every layer, interleaved, on one packed batch.

Run: .venv/bin/python benchmarks/bench_relative_bias_cpu.py (prints the medians of 5 interleaved rounds of 12 layers).
"""
import time

import torch

from fastenc.ops import reference
from fastenc.ops.relative_bias import RelativeBias

LAYERS, ROUNDS = 12, 5


def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    lengths = torch.randint(16, 257, (16,)).tolist()
    cu = torch.tensor([0] + lengths).cumsum(0).to(torch.int32)
    longest, heads, head_dim = max(lengths), 12, 64
    q, k, v = torch.randn(sum(lengths), 3, heads, head_dim).unbind(1)  # views of one fused QKV, as the layers pass
    bias = RelativeBias(torch.randn(32, heads))

    def once_per_batch():
        return reference.attention(q, k, v, cu_seqlens=cu, max_seqlen=longest, position_bias=bias)

    def every_layer():  # the dense bias once per batch, bias + key mask summed again in each call
        relative = reference._varlen_plan(cu, longest, q.dtype).relative_bias(bias, q.dtype)
        return reference._attention_varlen(q, k, v, cu, longest, None, padded=lambda a, b, c, mask, scale: (
            reference._attention_padded(a, b, c, mask, scale, None, bias, relative)))

    print("max diff new vs old", (once_per_batch() - every_layer()).abs().max().item())
    times = {"new": [], "old": []}
    for _ in range(ROUNDS):
        for name, fn in (("new", once_per_batch), ("old", every_layer)):
            start = time.perf_counter()
            for _ in range(LAYERS):
                fn()
            times[name].append(time.perf_counter() - start)
    median = {name: sorted(t)[len(t) // 2] for name, t in times.items()}
    print("lengths", lengths)
    print({name: [round(x, 3) for x in t] for name, t in times.items()})
    print(f"median s per {LAYERS} layers:", median, "old/new = %.2f" % (median["old"] / median["new"]))


if __name__ == "__main__":
    main()

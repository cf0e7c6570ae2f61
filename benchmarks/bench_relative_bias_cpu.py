"""MPNet's relative position bias on the CPU path: the per-bucket bias + key mask summed once per batch (what
fastenc.ops.reference does) against summing them in every layer (the previous code), interleaved, on one packed batch.

Run: .venv/bin/python benchmarks/bench_relative_bias_cpu.py (prints the medians of 5 interleaved rounds of 12 layers).
"""
import time, torch
from fastenc.ops import reference as R
from fastenc.ops.relative_bias import RelativeBias
torch.manual_seed(0)
torch.set_num_threads(2)
lengths = torch.randint(16, 257, (16,)).tolist()
cu = torch.tensor([0] + lengths).cumsum(0).to(torch.int32)
N, nh, hd = sum(lengths), 12, 64
qkv = torch.randn(N, 3, nh, hd)
q, k, v = qkv.unbind(1)
pb = RelativeBias(torch.randn(32, nh))
def new():
    for _ in range(12):
        R.attention(q, k, v, cu_seqlens=cu, max_seqlen=max(lengths), position_bias=pb)
def old():  # the dense bias once per batch, bias + key mask summed again in every layer
    for _ in range(12):
        plan = R._varlen_plan(cu, max(lengths), q.dtype)
        rel = plan.relative_bias(pb, q.dtype)
        R._attention_varlen(q, k, v, cu, max(lengths), None,
                            padded=lambda a, b, c, m, s: R._attention_padded(a, b, c, m, s, None, pb, rel))
a = R.attention(q, k, v, cu_seqlens=cu, max_seqlen=max(lengths), position_bias=pb)
plan = R._varlen_plan(cu, max(lengths), q.dtype); rel = plan.relative_bias(pb, q.dtype)
b = R._attention_varlen(q, k, v, cu, max(lengths), None, padded=lambda a_, b_, c_, m, s: R._attention_padded(a_, b_, c_, m, s, None, pb, rel))
print("max diff new vs old", (a - b).abs().max().item())
times = {"new": [], "old": []}
for r in range(5):
    for name, fn in (("new", new), ("old", old)):
        t = time.perf_counter(); fn(); times[name].append(time.perf_counter() - t)
med = {n: sorted(t)[len(t)//2] for n, t in times.items()}
print("lengths", lengths)
print({n: [round(x, 3) for x in t] for n, t in times.items()})
print("median s per 12 layers:", med, "old/new = %.2f" % (med["old"] / med["new"]))

"""The C++ CPU attention kernel (fastenc.ops.cpu_attention) against a float64 oracle under the suite's parity rule, with
reference.attention (PyTorch's fused attention over length buckets) in transformers' place; what it declines; and the
MiniLM layer path that uses it."""
import os
import subprocess
import sys
from pathlib import Path

import parity
import pytest
import torch

from fastenc.ops import cpu_attention, reference

needs_kernel = pytest.mark.skipif(not cpu_attention.available(), reason="fastenc._C was built without the kernel")

# Awkward on purpose: a single token, lengths around the 16-key vector and the 8-query tile, one long sequence.
LENGTHS = [[1, 15, 16, 17, 9, 33, 8, 200], [5], [64, 63, 1, 1, 130]]


def _packed(lengths, nh, hd, dtype, seed=0):
    """q, k, v as the three (N, nh, hd) views of one fused (N, 3H) product, as the layers pass them."""
    g = torch.Generator().manual_seed(seed)
    N = sum(lengths)
    qkv = (torch.randn(N, 3 * nh * hd, generator=g, dtype=torch.float64) * 1.5).to(dtype)
    q, k, v = qkv.view(N, 3, nh, hd).unbind(1)
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)
    return q, k, v, cu


def _oracle(q, k, v, cu, scale):
    """softmax(q k^T * scale) v per sequence in float64."""
    out = torch.empty(q.shape, dtype=torch.float64)
    for a, b in zip(cu[:-1].tolist(), cu[1:].tolist()):
        qs, ks, vs = (t[a:b].double().transpose(0, 1) for t in (q, k, v))  # (nh, L, hd)
        p = torch.softmax(qs @ ks.transpose(-1, -2) * scale, dim=-1)  # (nh, L, L)
        out[a:b] = (p @ vs).transpose(0, 1)
    return out


@needs_kernel
@pytest.mark.parity
@pytest.mark.parametrize("lengths", LENGTHS, ids=["mixed", "one", "long"])
@pytest.mark.parametrize("hd", [16, 32, 64])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_kernel_within_the_parity_rule_of_the_reference(lengths, hd, dtype):
    if dtype == torch.bfloat16 and os.environ.get("ATEN_CPU_CAPABILITY") in ("avx2", "default"):
        # PyTorch's bf16 flash attention (the reference here) raises "pack_vnni2 is only supported when avx512 is
        # supported" under a capped capability on an AVX-512 machine; the kernel's bf16 code differs from its fp32
        # code only in loads and stores, which the uncapped run covers.
        pytest.skip("reference bf16 attention does not run under a capped ATEN_CPU_CAPABILITY")
    nh = 3
    q, k, v, cu = _packed(lengths, nh, hd, dtype)
    scale = 0.7 * hd**-0.5  # a softmax_scale other than the default, as a model may set
    out = cpu_attention.varlen_attention(q, k, v, cu, scale)
    assert out is not None and out.dtype == dtype and out.shape == q.shape and out.is_contiguous()
    ref = reference.attention(q, k, v, cu_seqlens=cu, max_seqlen=max(lengths), softmax_scale=scale)
    oracle = _oracle(q, k, v, cu, scale)
    err, ref_err = parity.errors(out, ref, oracle)
    atol = {torch.float32: parity.ATOL, torch.bfloat16: 1e-3}[dtype]  # bf16: as tests/kernels/conftest.py
    parity.check(f"cpu attention {str(dtype).removeprefix('torch.')}", f"lengths {lengths} hd {hd}", err, ref_err,
                 parity.magnitude(oracle), atol)


@needs_kernel
@pytest.mark.parity
def test_kernel_reads_each_tensor_with_its_own_token_stride():
    """A rotated q and k in one (N, 2, nh, hd) tensor, v a view of the fused product, and a scaled (contiguous) q: the
    layout of the RoPE families (GTE's logn scale included), each tensor read with its own token stride."""
    nh, hd = 2, 32
    q, k, v, cu = _packed(LENGTHS[0], nh, hd, torch.float32, seed=3)
    qk = torch.stack([q, k], dim=1)  # (N, 2, nh, hd): token stride 2 * nh * hd
    for q_, k_ in ((qk[:, 0], qk[:, 1]), (q * 1.25, qk[:, 1])):
        assert len({q_.stride(0), k_.stride(0), v.stride(0)}) > 1
        out = cpu_attention.varlen_attention(q_, k_, v, cu)
        assert out is not None
        ref = reference.attention(q_, k_, v, cu_seqlens=cu, max_seqlen=max(LENGTHS[0]))
        oracle = _oracle(q_, k_, v, cu, hd**-0.5)
        err, ref_err = parity.errors(out, ref, oracle)
        parity.check("cpu attention fp32", f"token strides {q_.stride(0)}/{k_.stride(0)}/{v.stride(0)}", err, ref_err,
                     parity.magnitude(oracle), parity.ATOL)

@needs_kernel
def test_default_scale_threads_and_empty_batch():
    q, k, v, cu = _packed([7, 30, 2], 2, 32, torch.float32)
    default = cpu_attention.varlen_attention(q, k, v, cu)
    assert torch.allclose(default, cpu_attention.varlen_attention(q, k, v, cu, 32**-0.5), rtol=0, atol=0)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = cpu_attention.varlen_attention(q, k, v, cu)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(default, one)  # the tasks are independent: thread count changes nothing
    empty = torch.empty(0, 2, 32)
    out = cpu_attention.varlen_attention(empty, empty, empty, torch.zeros(1, dtype=torch.int32))
    assert out is not None and out.shape == (0, 2, 32)


@needs_kernel
def test_declines_what_it_does_not_read():
    q, k, v, cu = _packed([4, 4], 2, 32, torch.float32)
    assert cpu_attention.varlen_attention(q, k, v, cu) is not None
    assert cpu_attention.varlen_attention(q.half(), k.half(), v.half(), cu) is None  # dtype
    q24, k24, v24, _ = _packed([4, 4], 2, 24, torch.float32)
    assert cpu_attention.varlen_attention(q24, k24, v24, cu) is None  # head_dim not a multiple of 16
    assert cpu_attention.varlen_attention(q.transpose(1, 2).contiguous().transpose(1, 2), k, v, cu) is None  # strides
    assert cpu_attention.varlen_attention(q, k, v, cu.long()) is None  # offsets not int32


@needs_kernel
def test_offsets_that_do_not_cover_the_tokens_are_an_error():
    q, k, v, cu = _packed([4, 4], 2, 32, torch.float32)
    with pytest.raises(ValueError, match="cu_seqlens ends at 6 but q has 8 tokens"):
        cpu_attention.varlen_attention(q, k, v, torch.tensor([0, 3, 6], dtype=torch.int32))


@needs_kernel
def test_layers_use_the_kernel_and_agree_with_the_buckets(monkeypatch, tmp_path):
    """A padded batch run padding-free through a BERT layer stack: the kernel path equals the bucketed reference to
    fp32 rounding."""
    import fastenc
    import fastenc.models.bert.layer as layer
    from tiny_checkpoints import build, padded_batch, save

    model = fastenc.load(save(build("bert"), tmp_path / "ckpt")).model
    ids, mask = padded_batch(model.config.vocab_size, [21, 3, 17, 9], model.config.pad_token_id)
    calls = []
    real = cpu_attention.varlen_attention
    monkeypatch.setattr(cpu_attention, "varlen_attention", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    kernel = model(ids, attention_mask=mask).last_hidden_state
    assert calls, "the CPU kernel was not used"
    monkeypatch.setattr(layer, "CPU_ATTENTION_KERNEL", False)
    buckets = model(ids, attention_mask=mask).last_hidden_state
    keep = mask.bool()
    assert (kernel[keep] - buckets[keep]).abs().max() < 1e-5


_CODE_PATH_PROBE = """
import sys, torch
sys.path[:0] = sys.argv[1:3]
import parity, test_cpu_attention as t
from fastenc.ops import cpu_attention, reference
worst = 0.0
for lengths in t.LENGTHS:
    for hd in (16, 64):
        q, k, v, cu = t._packed(lengths, 3, hd, torch.float32)
        out = cpu_attention.varlen_attention(q, k, v, cu)
        ref = reference.attention(q, k, v, cu_seqlens=cu, max_seqlen=max(lengths))
        oracle = t._oracle(q, k, v, cu, hd ** -0.5)
        err, ref_err = parity.errors(out, ref, oracle)
        worst = max(worst, err / parity.bound(ref_err, parity.magnitude(oracle)))
print(cpu_attention.isa(), worst)
"""


@needs_kernel
@pytest.mark.parametrize("capability", ["avx2", "default"])
def test_every_code_path_within_the_rule(capability):
    """The AVX2 + FMA and baseline builds of the kernel (picked at first use, capped by ATEN_CPU_CAPABILITY as
    PyTorch's own kernels are) meet the same fp32 rule in a fresh process."""
    if capability == "avx2" and cpu_attention.isa() == "default":
        pytest.skip("this CPU has no AVX2")
    here = Path(__file__).resolve()
    run = subprocess.run([sys.executable, "-c", _CODE_PATH_PROBE, str(here.parent), str(here.parents[1] / "helpers")],
                         env={**os.environ, "ATEN_CPU_CAPABILITY": capability}, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    isa, worst = run.stdout.split()
    assert isa == capability
    assert float(worst) <= 1.0, f"error / parity bound {worst} on the {capability} code path"


def test_which_batches_take_the_kernel():
    """fp32: every packed batch; bf16: batches of 2+ sequences, not a lone one (the reference reads it in place)."""
    from fastenc.models.bert.layer import _kernel_wins

    def cu(*lengths):
        return torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)

    assert _kernel_wins(cu(300), torch.float32) and not _kernel_wins(cu(300), torch.bfloat16)
    for dtype in (torch.float32, torch.bfloat16):
        assert _kernel_wins(cu(300, 299), dtype)
        assert _kernel_wins(cu(300, 10), dtype)
        assert _kernel_wins(cu(20, 18, 19), dtype)

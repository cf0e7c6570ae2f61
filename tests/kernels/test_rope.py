"""fastenc.kernels.rope_qkv against fastenc.ops.reference.rope_qkv and a float64 oracle."""
import pytest
import torch

from fastenc.models.rope.angles import RotaryAngles
from fastenc.ops import reference

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def kernels():
    import fastenc.kernels as k  # imported late: conftest sets TRITON_INTERPRET first

    return k


def oracle(qkv, cos, sin):
    """Float64 rotate-half RoPE of Q and K, written as transformers writes it: x cos + rotate_half(x) sin."""
    q, k, _ = qkv.double().cpu().unbind(-3)
    c = torch.cat((cos, cos), dim=-1).double().cpu().unsqueeze(-2)  # (*lead, 1, hd)
    s = torch.cat((sin, sin), dim=-1).double().cpu().unsqueeze(-2)

    def rotate_half(x):
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((-x2, x1), dim=-1)

    return q * c + rotate_half(q) * s, k * c + rotate_half(k) * s


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("lead,heads,head_dim", [((1,), 1, 2), ((19,), 3, 16), ((2, 9), 2, 48), ((5,), 12, 64)],
                         ids=str)
def test_matches_reference(device, check_error, dtype, lead, heads, head_dim):
    g = torch.Generator().manual_seed(0)
    qkv = torch.randn(*lead, 3 * heads * head_dim, generator=g).to(dtype).to(device)  # as the fused GEMM returns it
    qkv = qkv.view(*lead, 3, heads, head_dim)
    positions = torch.randint(0, 8192, lead, generator=g).to(device)  # far positions: large angles
    cos, sin = RotaryAngles(positions, head_dim)(160_000.0)
    q, k, v = kernels().rope_qkv(qkv, cos, sin)
    rq, rk, rv = reference.rope_qkv(qkv, cos, sin)
    want_q, want_k = oracle(qkv, cos, sin)
    check_error(q, rq, want_q, dtype)
    check_error(k, rk, want_k, dtype)
    assert v.data_ptr() == rv.data_ptr() and v.shape == rv.shape  # V is a view of the projection, not a copy


def test_bad_inputs_name_the_argument(device):
    qkv = torch.zeros(4, 3, 2, 16, device=device)
    cos = sin = torch.zeros(4, 8, device=device)
    cases = [
        ((torch.zeros(4, 2, 2, 16, device=device), cos, sin), ValueError, r"expected \(\.\.\., 3, heads, head_dim\)"),
        ((qkv.int(), cos, sin), TypeError, "qkv has dtype torch.int32"),
        ((qkv, cos.half(), sin), TypeError, "cos has dtype torch.float16"),
        ((qkv, cos, sin[:3]), ValueError, r"sin has shape \(3, 8\); expected \(4, 8\)"),
        ((qkv.transpose(-1, -2).contiguous().transpose(-1, -2), cos, sin), ValueError, "contiguous within each token"),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            kernels().rope_qkv(*args)

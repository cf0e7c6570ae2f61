"""fastenc.kernels.glu (and geglu, its GELU case) against fastenc.ops.reference and a float64 oracle."""
import pytest
import torch
import torch.nn.functional as F

from fastenc.ops import reference

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def kernels():
    import fastenc.kernels as k  # imported late: conftest sets TRITON_INTERPRET first

    return k


def oracle(x, approximate):
    value, gate = x.double().cpu().chunk(2, dim=-1)
    return F.gelu(value, approximate=approximate) * gate


def silu_oracle(x):
    value, gate = x.double().cpu().chunk(2, dim=-1)
    return F.silu(value) * gate


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(1, 1, 2), (3, 7, 74), (2, 2 * 1025), (5, 2304)], ids=str)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_matches_reference(device, check_error, dtype, shape, approximate):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=g) * 3).to(dtype).to(device)
    out = kernels().geglu(x, approximate)
    assert out.shape == (*shape[:-1], shape[-1] // 2)
    check_error(out, reference.geglu(x, approximate), oracle(x, approximate), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(1, 1, 2), (3, 7, 74), (2, 2 * 1025), (5, 2304)], ids=str)
def test_silu_gate_matches_reference(device, check_error, dtype, shape):
    """SwiGLU (NomicBERT): the same kernel with the SiLU flag; large negative inputs included (exp overflow)."""
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(shape, generator=g) * 3).to(dtype)
    x.view(-1)[::7] = -200.0  # silu(-200) = -0: the kernel's exp(200) overflows to inf, the result must stay finite
    x = x.to(device)
    out = kernels().glu(x, "silu")
    assert out.shape == (*shape[:-1], shape[-1] // 2) and torch.isfinite(out).all()
    check_error(out, reference.glu(x, "silu"), silu_oracle(x), dtype)


@pytest.mark.parametrize("activation,approximate", [("gelu", "none"), ("gelu_tanh", "tanh")])
def test_glu_gelu_is_geglu(device, activation, approximate):
    """One kernel: glu's GELU cases are geglu, bit for bit, on both backends."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 5, 66, generator=g).to(device)
    assert torch.equal(kernels().glu(x, activation), kernels().geglu(x, approximate))
    assert torch.equal(reference.glu(x, activation), reference.geglu(x, approximate))


def test_strided_rows(device, check_error):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, 40, generator=g).to(device)[:, 1]  # (6, 40) with row stride 120
    check_error(kernels().geglu(x), reference.geglu(x), oracle(x, "none"), torch.float32)


@pytest.mark.parametrize("bad,error,message", [
    (torch.zeros(3, 5), ValueError, r"expected \(\.\.\., 2I\)"),
    (torch.zeros(3, 4, dtype=torch.int32), TypeError, "x has dtype torch.int32"),
    (torch.zeros(4, 6).t(), ValueError, "contiguous in its last dimension"),
])
def test_bad_inputs_name_the_argument(device, bad, error, message):
    with pytest.raises(error, match=message):
        kernels().geglu(bad.to(device))
    with pytest.raises(ValueError, match="approximate must be one of"):
        kernels().geglu(torch.zeros(2, 4, device=device), "sigmoid")
    with pytest.raises(error, match=message):
        kernels().glu(bad.to(device), "silu")
    with pytest.raises(ValueError, match="activation must be one of"):
        kernels().glu(torch.zeros(2, 4, device=device), "relu")

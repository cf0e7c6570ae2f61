"""fastenc.kernels.geglu against fastenc.ops.reference.geglu and a float64 oracle."""
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


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(1, 1, 2), (3, 7, 74), (2, 2 * 1025), (5, 2304)], ids=str)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_matches_reference(device, check_error, dtype, shape, approximate):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=g) * 3).to(dtype).to(device)
    out = kernels().geglu(x, approximate)
    assert out.shape == (*shape[:-1], shape[-1] // 2)
    check_error(out, reference.geglu(x, approximate), oracle(x, approximate), dtype)


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

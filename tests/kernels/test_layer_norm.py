"""fastenc.kernels.layer_norm against fastenc.ops.reference.layer_norm and a float64 oracle."""
import pytest
import torch
import torch.nn.functional as F

from fastenc.ops import reference

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def kernels():
    import fastenc.kernels as k  # imported late: conftest sets TRITON_INTERPRET first

    return k


def oracle(x, weight, bias, eps, residual=None):
    x = x.double().cpu() + (residual.double().cpu() if residual is not None else 0)
    return F.layer_norm(x, x.shape[-1:], weight.double().cpu(), bias.double().cpu(), eps)


def inputs(shape, dtype, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = shape[-1]
    # An offset mean on purpose: one-pass variance formulas lose digits there; ours subtracts the mean first.
    x = (torch.randn(shape, generator=g) * 2 + 3).to(dtype).to(device)
    residual = torch.randn(shape, generator=g).to(dtype).to(device)
    weight, bias = (torch.randn(n, generator=g).to(device) for _ in range(2))
    return x, residual, weight, bias


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(1, 1, 33), (3, 7, 1000), (2, 384), (5, 768), (1, 4096), (1, 1)], ids=str)
@pytest.mark.parametrize("with_residual", [False, True], ids=["plain", "residual"])
def test_matches_reference(device, check_error, dtype, shape, with_residual):
    x, residual, weight, bias = inputs(shape, dtype, device)
    residual = residual if with_residual else None
    out = kernels().layer_norm(x, weight, bias, 1e-5, residual=residual)
    torch_out = reference.layer_norm(x, weight, bias, 1e-5, residual=residual)
    check_error(out, torch_out, oracle(x, weight, bias, 1e-5, residual), dtype)


def test_low_precision_parameters_and_strided_rows(device, check_error):
    x, residual, weight, bias = inputs((4, 2, 96), torch.bfloat16, device)
    x = x[:, 1]  # (4, 96) with row stride 192: rows need not be contiguous
    residual = residual[:, 0]
    weight, bias = weight.bfloat16(), bias.bfloat16()
    out = kernels().layer_norm(x, weight, bias, 1e-12, residual=residual)
    torch_out = reference.layer_norm(x, weight, bias, 1e-12, residual=residual)
    check_error(out, torch_out, oracle(x, weight, bias, 1e-12, residual), torch.bfloat16)


def test_empty_batch(device):
    x, _, weight, bias = inputs((0, 64), torch.float32, device)
    assert kernels().layer_norm(x, weight, bias, 1e-5).shape == (0, 64)


def _bad_inputs(device):
    x, residual, weight, bias = inputs((3, 64), torch.float16, device)
    return [
        (TypeError, "x has dtype torch.int64", (x.long(), weight, bias, 1e-5), {}),
        (TypeError, "weight has dtype torch.int32", (x, weight.int(), bias, 1e-5), {}),
        (ValueError, r"bias has shape \(63,\); expected \(64,\)", (x, weight, bias[:63], 1e-5), {}),
        (ValueError, "x must be contiguous in its last dimension", (x.t(), weight[:3], bias[:3], 1e-5), {}),
        (TypeError, "residual has dtype torch.float32", (x, weight, bias, 1e-5), dict(residual=residual.float())),
        (ValueError, r"residual has shape \(2, 64\)", (x, weight, bias, 1e-5), dict(residual=residual[:2])),
        (ValueError, "weight is on", (x, weight.to("meta"), bias, 1e-5), {}),
        (ValueError, "exceed the fused-row limit", (torch.zeros(1, 70000, device=device), torch.zeros(70000),
                                                    torch.zeros(70000), 1e-5), {}),
    ]


@pytest.mark.parametrize("case", range(8))
def test_launcher_errors_name_the_argument(device, case):
    error, message, args, kwargs = _bad_inputs(device)[case]
    with pytest.raises(error, match=message):
        kernels().layer_norm(*args, **kwargs)


def test_custom_op(device):
    kernels()
    x, residual, weight, bias = inputs((3, 5, 48), torch.float16, device)
    op = torch.ops.fastenc.layer_norm.default
    for args in ((x, weight, bias, 1e-5, residual), (x, weight, bias, 1e-5, None)):
        torch.library.opcheck(op, args, test_utils=("test_schema", "test_faketensor"))

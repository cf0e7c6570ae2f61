"""fastenc.kernels.bias_gelu against fastenc.ops.reference.bias_gelu and a float64 oracle."""
import pytest
import torch
import torch.nn.functional as F

from fastenc.ops import reference

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def kernels():
    import fastenc.kernels as k  # imported late: conftest sets TRITON_INTERPRET first

    return k


def inputs(shape, dtype, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g) * 4).to(dtype).to(device)  # wide enough to reach both tails of the GELU
    bias = torch.randn(shape[-1], generator=g).to(dtype).to(device)
    return x, bias


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(1, 1, 33), (3, 7, 1000), (4, 3072), (2, 1025), (1, 1)], ids=str)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_matches_reference(device, check_error, dtype, shape, approximate):
    x, bias = inputs(shape, dtype, device)
    out = kernels().bias_gelu(x, bias, approximate)
    torch_out = reference.bias_gelu(x, bias, approximate)
    oracle = F.gelu(x.double().cpu() + bias.double().cpu(), approximate=approximate)
    check_error(out, torch_out, oracle, dtype)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # x**3 in the interpreter's NumPy
def test_extreme_inputs_stay_finite(device):
    """Both tails, and a cube that overflows float32; PyTorch's own erf GELU returns inf at 3e38."""
    x = torch.tensor([[-3e38, -1e4, -30.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 30.0, 1e4, 3e38]], device=device)
    bias = torch.zeros(x.shape[-1], device=device)
    for approximate in ("none", "tanh"):
        out = kernels().bias_gelu(x, bias, approximate)
        oracle = F.gelu(x.double().cpu(), approximate=approximate)
        torch.testing.assert_close(out.double().cpu(), oracle, rtol=1e-5, atol=1e-6)


def test_strided_rows_and_fp32_bias(device, check_error):
    x, _ = inputs((6, 2, 80), torch.float16, device)
    x = x[:, 0]  # (6, 80) with row stride 160
    bias = torch.randn(80).to(device)
    out = kernels().bias_gelu(x, bias)
    check_error(out, reference.bias_gelu(x, bias), F.gelu(x.double().cpu() + bias.double().cpu()), torch.float16)


def _bad_inputs(device):
    x, bias = inputs((3, 64), torch.float16, device)
    return [
        (ValueError, "approximate must be one of", (x, bias, "sigmoid")),
        (TypeError, "x has dtype torch.int64", (x.long(), bias, "none")),
        (ValueError, r"bias has shape \(3,\); expected \(64,\)", (x, bias[:3], "none")),
        (ValueError, "x must be contiguous in its last dimension", (x.t(), bias[:3], "none")),
        (ValueError, "bias is on", (x, bias.to("meta"), "none")),
    ]


@pytest.mark.parametrize("case", range(5))
def test_launcher_errors_name_the_argument(device, case):
    error, message, args = _bad_inputs(device)[case]
    with pytest.raises(error, match=message):
        kernels().bias_gelu(*args)


def test_custom_op(device):
    kernels()
    x, bias = inputs((2, 5, 40), torch.bfloat16, device)
    torch.library.opcheck(torch.ops.fastenc.bias_gelu.default, (x, bias, "tanh"),
                          test_utils=("test_schema", "test_faketensor"))

"""oneDNN linears on the CPU: fused epilogues equal the unfused products, fallbacks where oneDNN or the dtype is missing,
and a layer repacks when its weights change under it."""
import pytest
import torch
import torch.nn.functional as F

from fastenc.config import EncoderConfig
from fastenc.models.bert.layer import EncoderLayer
from fastenc.ops.cpu_linear import PackedLinear, onednn_dtype_ok
from fastenc.ops.interface import ops_for

needs_onednn = pytest.mark.skipif(not onednn_dtype_ok(torch.float32), reason="this torch build has no oneDNN")


def _operands(rows=37, n_in=48, n_out=80, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, n_in, generator=g, dtype=torch.float64)
    w = torch.randn(n_out, n_in, generator=g, dtype=torch.float64) / n_in**0.5
    b = torch.randn(n_out, generator=g, dtype=torch.float64)
    r = torch.randn(rows, n_out, generator=g, dtype=torch.float64)
    return x, w, b, r


@needs_onednn
@pytest.mark.parametrize("epilogue", ["none", "gelu", "gelu-tanh", "residual"])
def test_fused_epilogues_match_the_float64_product(epilogue):
    x, w, b, r = _operands()
    y = x @ w.T + b
    expected = {"none": y, "gelu": F.gelu(y), "gelu-tanh": F.gelu(y, approximate="tanh"), "residual": y + r}[epilogue]
    kwargs = {"none": {}, "gelu": {"gelu": "none"}, "gelu-tanh": {"gelu": "tanh"},
              "residual": {"residual": r.float()}}[epilogue]
    linear = PackedLinear(w.float(), b.float())
    assert linear.packed is not None
    fused = linear(x.float(), **kwargs)
    plain = linear._unfused(x.float(), **{"gelu": None, "residual": None, **kwargs})
    assert fused.dtype == torch.float32 and fused.shape == expected.shape
    # fp32 rounding of a 48-term dot product: both paths within a few ulps of float64, and of each other.
    assert (fused.double() - expected).abs().max() < 1e-5
    assert (plain.double() - expected).abs().max() < 1e-5


@needs_onednn
def test_leading_dimensions_and_empty_batches():
    x, w, b, _ = _operands(rows=12)
    linear = PackedLinear(w.float(), b.float())
    out = linear(x.float().view(3, 4, -1))  # (3, 4, in) -> (3, 4, out)
    assert out.shape == (3, 4, 80)
    torch.testing.assert_close(out.view(12, -1), F.linear(x.float(), w.float(), b.float()), rtol=1e-5, atol=1e-5)
    assert linear(x.float()[:0]).shape == (0, 80)


def test_unsupported_dtypes_fall_back_to_f_linear():
    x, w, b, r = _operands()
    linear = PackedLinear(w, b)  # float64: oneDNN has no packed float64 linear
    assert linear.packed is None
    torch.testing.assert_close(linear(x, residual=r), x @ w.T + b + r)
    torch.testing.assert_close(linear(x, gelu="none"), F.gelu(x @ w.T + b))


@pytest.mark.skipif(not onednn_dtype_ok(torch.bfloat16), reason="this CPU has no native bf16 (avx512_bf16 / AMX)")
def test_bf16_products_accumulate_in_fp32():
    x, w, b, _ = _operands(n_in=1024)  # a long dot product: bf16 accumulation would lose ~1e-2 relative
    linear = PackedLinear(w.bfloat16(), b.bfloat16())
    assert linear.packed is not None
    out = linear(x.bfloat16()).double()
    exact = x.bfloat16().double() @ w.bfloat16().double().T + b.bfloat16().double()  # the same rounded inputs
    # Only the final rounding to bf16 (2^-8 relative) remains when the sum is kept in fp32.
    assert ((out - exact).abs() / exact.abs().clamp(min=1.0)).max() < 2**-7


@pytest.mark.skipif(not onednn_dtype_ok(torch.bfloat16), reason="this CPU has no native bf16 (avx512_bf16 / AMX)")
def test_bf16_gelu_runs_in_onednns_epilogue_within_bf16_rounding():
    """bf16 takes oneDNN's erf-GELU epilogue (fp32 keeps the exact separate pass): its erf approximation stays far
    below bf16's own rounding of the result."""
    x, w, b, _ = _operands(n_in=256)
    linear = PackedLinear(w.bfloat16(), b.bfloat16())
    out = linear(x.bfloat16(), gelu="none").double()
    exact = F.gelu(x.bfloat16().double() @ w.bfloat16().double().T + b.bfloat16().double())
    assert ((out - exact).abs() / exact.abs().clamp(min=1.0)).max() < 2**-7


@needs_onednn
def test_layer_repacks_when_its_weights_change():
    config = EncoderConfig.from_dict(dict(model_type="bert", hidden_size=32, num_hidden_layers=1,
                                          num_attention_heads=2, intermediate_size=64, vocab_size=100))
    layer = EncoderLayer(config).eval()
    ops = ops_for("torch")
    x = torch.randn(5, 32)
    first = layer.cpu_linears(x, ops)
    assert first is not None and layer.cpu_linears(x, ops) is first  # packed once, then reused
    with torch.no_grad():
        layer.qkv.weight.data = layer.qkv.weight.data * 2  # new storage, as load_state_dict(assign=True) makes
    again = layer.cpu_linears(x, ops)
    assert again is not first and again["qkv"].weight.data_ptr() == layer.qkv.weight.data_ptr()
    torch.testing.assert_close(again["qkv"](x), F.linear(x, layer.qkv.weight, layer.qkv.bias), rtol=1e-5, atol=1e-5)
    assert layer.cpu_linears(x, ops_for("triton")) is None  # the Triton ops keep their own fused kernels

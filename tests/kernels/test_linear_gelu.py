"""fastenc.kernels.linear_gelu against fastenc.ops.reference.linear_gelu and a float64 oracle, and the layer's switch
between it and F.linear + bias_gelu."""
import importlib

import pytest
import torch
import torch.nn.functional as F

from fastenc.config import EncoderConfig
from fastenc.models.bert import layer as bert_layer
from fastenc.ops import reference
from fastenc.ops.interface import ops_for

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def kernels():
    import fastenc.kernels as k  # imported late: conftest sets TRITON_INTERPRET first

    return k


def inputs(lead, k, i, dtype, device, seed=0, bias_dtype=None):
    g = torch.Generator().manual_seed(seed)
    # Products of about 2 standard deviations: both tails of the GELU, and its curved middle.
    x = (torch.randn(*lead, k, generator=g) * 2).to(dtype).to(device)
    weight = (torch.randn(i, k, generator=g) / k**0.5).to(dtype).to(device)
    bias = torch.randn(i, generator=g).to(bias_dtype or dtype).to(device)
    return x, weight, bias


def oracle(x, weight, bias, approximate="none"):
    """The float64 product of the same rounded inputs."""
    x, weight, bias = (t.double().cpu() for t in (x, weight, bias))
    return F.gelu(x @ weight.T + bias, approximate=approximate)


# Rows, reduction and output widths off every block size: one row, a partial row block, more row blocks than a
# launch group (the interpreter's tiles are 32 x 32 x 32 in groups of 2), a K loop without its mask (K = 64), and
# padded (B, T, K) leading dimensions.
SHAPES = [((1,), 40, 96), ((37,), 48, 100), ((130,), 64, 64), ((3, 7), 40, 100)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("lead,k,i", SHAPES, ids=[f"{lead}x{k}->{i}" for lead, k, i in SHAPES])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_matches_reference(device, check_error, dtype, lead, k, i, approximate):
    x, weight, bias = inputs(lead, k, i, dtype, device)
    out = kernels().linear_gelu(x, weight, bias, approximate)
    assert out.shape == (*lead, i)
    torch_out = reference.linear_gelu(x, weight, bias, approximate)
    check_error(out, torch_out, oracle(x, weight, bias, approximate), dtype)


def test_strided_rows_and_weight_rows_and_fp32_bias(device, check_error):
    x, weight, bias = inputs((37,), 96, 100, torch.bfloat16, device, bias_dtype=torch.float32)
    x, weight = x[:, :48], weight[:, 8:56]  # row strides 96 for both, last dimensions contiguous
    out = kernels().linear_gelu(x, weight, bias)
    check_error(out, reference.linear_gelu(x, weight, bias), oracle(x, weight, bias), torch.bfloat16)


def test_empty_batch(device):
    x, weight, bias = inputs((0,), 40, 96, torch.float16, device)
    assert kernels().linear_gelu(x, weight, bias).shape == (0, 96)


def test_rows_are_tuned_by_bucket():
    """A packed batch's token count changes every call: the autotune key must not, or every batch re-tunes."""
    kernels()
    m_bucket = importlib.import_module("fastenc.kernels.linear_gelu").m_bucket  # the package's name is the function
    assert [m_bucket(m) for m in (1, 16, 17, 37, 4096, 4097, 8192, 10**6)] == [16, 16, 32, 64, 4096, 8192, 8192,
                                                                             8192]


def test_autotune_space(monkeypatch):
    """The compiled launcher's choices, checked here without a GPU: small problems skip tuning, fp32 has one tile."""
    module = importlib.import_module("fastenc.kernels.linear_gelu")
    monkeypatch.setattr(module, "INTERPRET", False)
    monkeypatch.setattr(module, "_sm_count", lambda device: 132)  # an H100 SXM / H200
    configs = module._configs()
    x = torch.empty(1, 1)

    def tiles(rows, n, fp32=False):
        kept = module._prune(configs, dict(X=x, M_BUCKET=module.m_bucket(rows), N=n), IS_FP32=fp32)
        return {(c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.kwargs["BLOCK_K"]) for c in kept}

    assert tiles(16, 4096) == tiles(128, 4096) == {(64, 64, 64)}  # 128 programs of 64 x 64 fill at most one wave
    every = {(c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.kwargs["BLOCK_K"]) for c in configs}
    assert tiles(4096, 4096) == every - {(64, 64, 32)}  # a full batch of a real FFN: every 16-bit tile
    assert tiles(16, 10**5) <= {(64, 256, 64), (64, 128, 64), (64, 64, 64)}  # 64 rows or fewer: no 128-row tiles
    assert all(n <= 128 for _, n, _ in tiles(10**5, 96))  # a narrow output: no 256-column tiles
    assert tiles(4096, 4096, fp32=True) == {(64, 64, 32)}


def _bad_inputs(device):
    x, weight, bias = inputs((3,), 40, 96, torch.float16, device)
    return [
        (ValueError, "approximate must be one of", (x, weight, bias, "sigmoid")),
        (TypeError, "x has dtype torch.int64", (x.long(), weight, bias, "none")),
        (TypeError, "weight has dtype torch.float32; expected x's dtype torch.float16",
         (x, weight.float(), bias, "none")),
        (ValueError, r"weight has shape \(96, 39\); expected \(\*, 40\)", (x, weight[:, :39], bias, "none")),
        (ValueError, r"bias has shape \(95,\); expected \(96,\)", (x, weight, bias[:95], "none")),
        (ValueError, "x must be contiguous in its last dimension", (x.t().contiguous().t(), weight, bias, "none")),
        (ValueError, "weight must be contiguous in its last dimension", (x, weight.t().contiguous().t(), bias,
                                                                         "none")),
        (ValueError, r"x has shape \(3, 0\); expected \(\.\.\., K\) with K >= 1", (x[:, :0], weight, bias, "none")),
        (ValueError, "bias is on", (x, weight, bias.to("meta"), "none")),
    ]


@pytest.mark.parametrize("case", range(9))
def test_launcher_errors_name_the_argument(device, case):
    error, message, args = _bad_inputs(device)[case]
    with pytest.raises(error, match=message):
        kernels().linear_gelu(*args)


def test_cpu_tensors_without_the_interpreter_are_refused(device, monkeypatch):
    if device != "cpu":
        pytest.skip("the message for CPU tensors on a machine without the interpreter")
    from fastenc.kernels import _utils

    monkeypatch.setattr(_utils, "INTERPRET", False)
    x, weight, bias = inputs((3,), 40, 96, torch.float32, device)
    with pytest.raises(ValueError, match="x is on the CPU: fastenc.kernels needs CUDA tensors"):
        kernels().linear_gelu(x, weight, bias)


def test_custom_op(device):
    kernels()
    x, weight, bias = inputs((2, 5), 40, 48, torch.bfloat16, device)
    torch.library.opcheck(torch.ops.fastenc.linear_gelu.default, (x, weight, bias, "tanh"),
                          test_utils=("test_schema", "test_faketensor"))


def _layer(hidden_act="gelu"):
    config = EncoderConfig.from_dict(dict(model_type="bert", hidden_size=32, num_hidden_layers=1,
                                          num_attention_heads=2, intermediate_size=64, vocab_size=100,
                                          hidden_act=hidden_act))
    torch.manual_seed(0)
    layer = bert_layer.EncoderLayer(config).eval()
    x = torch.randn(9, 32)  # (N, H) packed: sequences of 4 and 5 tokens
    args = dict(cu_seqlens=torch.tensor([0, 4, 9], dtype=torch.int32), max_seqlen=5)
    return layer, x, args


@pytest.mark.parametrize("hidden_act", ["gelu", "gelu_new"])
def test_layer_switch_keeps_the_torch_path_and_the_parity_of_the_triton_path(device, monkeypatch, hidden_act):
    """FUSED_FFN_EPILOGUE on or off: the torch backend computes the same composition (bit for bit), the triton
    backend's fused kernel stays within the parity rule of the unfused F.linear + bias_gelu."""
    monkeypatch.setattr(bert_layer, "CPU_FUSED_LINEAR", False)  # the F.linear path, where linear_gelu is called
    layer, x, args = _layer(hidden_act)
    outs = {}
    for backend in ("torch", "triton"):
        for fused in (True, False):
            monkeypatch.setattr(bert_layer, "FUSED_FFN_EPILOGUE", fused)
            with torch.no_grad():
                outs[backend, fused] = layer.to(device)(x.to(device), {k: v.to(device) if torch.is_tensor(v) else v
                                                                       for k, v in args.items()},
                                                        ops_for(backend))[0].cpu()
    assert torch.equal(outs["torch", True], outs["torch", False])
    with torch.no_grad():
        oracle_out = layer.double().cpu()(x.double(), args, ops_for("torch"))[0]
    err = (outs["triton", True].double() - oracle_out).abs().max().item()
    unfused_err = (outs["triton", False].double() - oracle_out).abs().max().item()
    assert err <= 2 * unfused_err + 1e-6 * max(1.0, oracle_out.abs().max().item())

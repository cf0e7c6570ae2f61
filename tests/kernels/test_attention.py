"""fastenc.kernels.attention against fastenc.ops.reference.attention and a float64 oracle."""
import importlib
import math

import pytest
import torch

from fastenc.ops import reference

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def kernels():
    import fastenc.kernels as k  # imported late: conftest sets TRITON_INTERPRET first

    return k


def oracle(q, k, v, mask=None, scale=None):
    """Float64 attention, (B, T, nh, hd); masked keys get the most negative finite score, as in the reference."""
    scale = scale if scale is not None else 1.0 / math.sqrt(q.shape[-1])
    q, k, v = (t.double().cpu().transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hd)
    scores = q @ k.transpose(-1, -2) * scale  # (B, nh, T, T)
    if mask is not None:
        scores = scores.masked_fill(~mask.cpu().bool()[:, None, None, :], torch.finfo(torch.float64).min)
    return (scores.softmax(-1) @ v).transpose(1, 2)  # (B, T, nh, hd)


def oracle_varlen(q, k, v, cu_seqlens, padded_oracle=None):
    """A padded float64 oracle (`oracle` by default) run on each packed sequence alone: (N, nh, hd)."""
    padded_oracle = padded_oracle or oracle
    out = torch.zeros(q.shape, dtype=torch.float64)
    bounds = cu_seqlens.tolist()
    for start, end in zip(bounds[:-1], bounds[1:]):
        if end > start:
            out[start:end] = padded_oracle(q[None, start:end], k[None, start:end], v[None, start:end])[0]
    return out


def qkv(shape, dtype, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g).to(dtype).to(device) for _ in range(3)]


def padding_mask(batch, seqlen, device, fully_padded_row=False):
    """Sequence i keeps a different prefix; the last sequence is all padding when asked."""
    lengths = [max(1, seqlen - 5 * i) for i in range(batch)]
    mask = torch.arange(seqlen)[None, :] < torch.tensor(lengths)[:, None]  # (B, T)
    if fully_padded_row:
        mask[-1] = False
    return mask.to(device)


# (B, T, nh, hd): lengths with a partial last key block and without one (64: whole 32-key blocks only)
SHAPES = [(2, 1, 3, 16), (2, 7, 2, 48), (3, 33, 2, 80), (2, 65, 1, 128), (1, 33, 2, 64), (2, 64, 2, 32)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
def test_padded_matches_reference(device, check_error, dtype, shape, masked):
    q, k, v = qkv(shape, dtype, device)
    mask = padding_mask(shape[0], shape[1], device) if masked else None
    out = kernels().attention(q, k, v, key_padding_mask=mask)
    torch_out = reference.attention(q, k, v, key_padding_mask=mask)
    # Rows of padded queries may hold anything finite; compare the real ones.
    rows = mask[:, :, None, None].expand(shape) if masked else None
    check_error(out, torch_out, oracle(q, k, v, mask), dtype, where=rows)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("head_dim", [16, 48, 80, 128])
def test_varlen_matches_reference(device, check_error, dtype, head_dim):
    lengths = [1, 7, 0, 33, 20, 32]  # an empty sequence; one of whole key blocks only
    cu_seqlens = torch.tensor([0] + lengths, dtype=torch.int32).cumsum(0, dtype=torch.int32).to(device)
    q, k, v = qkv((sum(lengths), 2, head_dim), dtype, device)
    out = kernels().attention(q, k, v, cu_seqlens=cu_seqlens, max_seqlen=max(lengths))
    torch_out = reference.attention(q, k, v, cu_seqlens=cu_seqlens, max_seqlen=max(lengths))
    check_error(out, torch_out, oracle_varlen(q, k, v, cu_seqlens.cpu()), dtype)


def test_varlen_max_seqlen_computed_when_missing(device):
    cu_seqlens = torch.tensor([0, 5, 38], dtype=torch.int32, device=device)
    q, k, v = qkv((38, 2, 32), torch.float32, device)
    given = kernels().attention(q, k, v, cu_seqlens=cu_seqlens, max_seqlen=33)
    torch.testing.assert_close(kernels().attention(q, k, v, cu_seqlens=cu_seqlens), given, rtol=0, atol=0)


def test_fully_padded_sequence_and_length_one(device):
    """A sequence with no key to attend stays finite: uniform weights over its keys, as the reference gives."""
    q, k, v = qkv((3, 5, 2, 16), torch.float16, device)
    mask = padding_mask(3, 5, device, fully_padded_row=True)
    out = kernels().attention(q, k, v, key_padding_mask=mask)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[-1], v[-1].float().mean(0, keepdim=True).expand(5, 2, 16).half(), atol=2e-3,
                               rtol=0)
    q1, k1, v1 = (t[:, :1] for t in (q, k, v))  # (B, 1, nh, hd): the output is v itself
    torch.testing.assert_close(kernels().attention(q1, k1, v1), v1, rtol=0, atol=0)


@pytest.mark.parametrize("mask_dtype", [torch.bool, torch.int64, torch.int32, torch.float32, torch.float16])
def test_mask_dtypes_agree(device, mask_dtype):
    q, k, v = qkv((2, 9, 2, 16), torch.float32, device)
    mask = padding_mask(2, 9, device)
    want = kernels().attention(q, k, v, key_padding_mask=mask)
    got = kernels().attention(q, k, v, key_padding_mask=mask.to(mask_dtype))
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_softmax_scale(device, check_error):
    q, k, v = qkv((1, 12, 2, 32), torch.float32, device)
    out = kernels().attention(q, k, v, softmax_scale=0.3)
    check_error(out, reference.attention(q, k, v, softmax_scale=0.3), oracle(q, k, v, scale=0.3), torch.float32)


class LaunchSpy:
    """Stands in for the Triton kernel and records what the launcher hands it."""

    def __init__(self, kernel):
        self.kernel, self.args = kernel, None

    def __getitem__(self, grid):
        launch = self.kernel[grid]

        def run(*args, **kwargs):
            self.args = args
            return launch(*args, **kwargs)

        return run


@pytest.mark.parametrize("varlen", [False, True], ids=["padded", "varlen"])
def test_fused_qkv_views_reach_the_kernel_without_copies(device, monkeypatch, check_error, varlen):
    module = importlib.import_module("fastenc.kernels.attention")  # the package's `attention` is the function

    B, T, nh, hd = 2, 9, 2, 48
    g = torch.Generator().manual_seed(1)
    x, w = torch.randn(B * T, 40, generator=g), torch.randn(3 * nh * hd, 40, generator=g)
    fused = (x @ w.T).to(device)  # (B*T, 3*nh*hd), as a fused QKV projection returns
    if varlen:
        q, k, v = fused.view(B * T, 3, nh, hd).unbind(1)  # (N, nh, hd) each, row stride 3*nh*hd
        kwargs = dict(cu_seqlens=torch.tensor([0, 4, B * T], dtype=torch.int32, device=device), max_seqlen=14)
        want = oracle_varlen(q, k, v, kwargs["cu_seqlens"].cpu())
    else:
        q, k, v = fused.view(B, T, 3, nh, hd).unbind(2)  # (B, T, nh, hd) each
        kwargs = {}
        want = oracle(q, k, v)
    assert not q.is_contiguous()
    spy = LaunchSpy(module._attention_kernel)
    monkeypatch.setattr(module, "_attention_kernel", spy)
    out = kernels().attention(q, k, v, **kwargs)
    for got, view in zip(spy.args[:3], (q, k, v)):
        assert got.data_ptr() == view.data_ptr() and got.stride() == view.stride()
    check_error(out, reference.attention(q, k, v, **kwargs), want, torch.float32)


def _bad_inputs(device):
    q, k, v = qkv((2, 5, 2, 16), torch.float16, device)
    cu = torch.tensor([0, 3, 5], dtype=torch.int32, device=device)
    flat = q.reshape(10, 2, 16)
    return [
        (TypeError, "q has dtype torch.int32", (q.int(), k, v), {}),
        (TypeError, "share one dtype", (q, k.float(), v), {}),
        (ValueError, r"expected \(batch, seqlen, heads, head_dim\)", (q[0], k[0], v[0]), {}),
        (ValueError, "share one shape", (q, k[:, :4], v), {}),
        (ValueError, "contiguous in its last dimension", (q.transpose(-1, -2), k.transpose(-1, -2),
                                                          v.transpose(-1, -2)), {}),
        (ValueError, "head_dim 256", (*(torch.zeros(1, 2, 1, 256, device=device, dtype=torch.half),) * 3,), {}),
        (ValueError, r"key_padding_mask has shape \(2, 4\); expected \(2, 5\)", (q, k, v),
         dict(key_padding_mask=torch.ones(2, 4, device=device))),
        (TypeError, "cu_seqlens has dtype torch.int64", (flat, flat, flat), dict(cu_seqlens=cu.long())),
        (ValueError, "key_padding_mask is for padded inputs", (flat, flat, flat),
         dict(cu_seqlens=cu, key_padding_mask=torch.ones(2, 5, device=device))),
        (ValueError, "device meta", (q.to("meta"), k.to("meta"), v.to("meta")), {}),
        (ValueError, "k is on", (q, k.to("meta"), v), {}),
    ]


@pytest.mark.parametrize("case", range(11))
def test_launcher_errors_name_the_argument(device, case):
    error, message, args, kwargs = _bad_inputs(device)[case]
    with pytest.raises(error, match=message):
        kernels().attention(*args, **kwargs)


def test_cpu_tensors_need_the_interpreter(monkeypatch):
    from fastenc.kernels import _utils

    monkeypatch.setattr(_utils, "INTERPRET", False)
    q = torch.zeros(1, 2, 1, 16)
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        kernels().attention(q, q, q)


def test_custom_op_fake_and_opcheck(device):
    from torch._subclasses.fake_tensor import FakeTensorMode

    kernels()
    op = torch.ops.fastenc.attention.default
    q, k, v = qkv((2, 5, 2, 16), torch.float16, device)
    mask = padding_mask(2, 5, device)
    with FakeTensorMode() as mode:
        fq, fk, fv, fm = (mode.from_tensor(t) for t in (q, k, v, mask))
        fake = op(fq[:, :, :, :], fk, fv, fm, None, 5, 0.25)
    assert fake.shape == q.shape and fake.dtype == q.dtype and fake.is_contiguous()
    torch.library.opcheck(op, (q, k, v, mask, None, 5, 0.25), test_utils=("test_schema", "test_faketensor"))
    flat = q.reshape(10, 2, 16)
    cu = torch.tensor([0, 3, 10], dtype=torch.int32, device=device)
    torch.library.opcheck(op, (flat, flat, flat, None, cu, 7, 0.25), test_utils=("test_schema", "test_faketensor"))


def test_compiles_into_one_graph(device):
    q, k, v = qkv((2, 7, 2, 16), torch.float32, device)
    mask = padding_mask(2, 7, device)

    def layer(q, k, v, mask):
        return kernels().attention(q * 2, k, v, key_padding_mask=mask) + 1

    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(q, k, v, mask), layer(q, k, v, mask), rtol=0, atol=0)


def oracle_window(q, k, v, window, mask=None):
    """Float64 sliding-window attention, (B, T, nh, hd): key j counts for query i when |i - j| <= window."""
    q, k, v = (t.double().cpu().transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hd)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, nh, T, T)
    keep = reference.window_keep(q.shape[2], k.shape[2], window, "cpu")[None, None]  # (1, 1, T, T)
    if mask is not None:
        keep = keep & mask.cpu().bool()[:, None, None, :]
    scores = scores.masked_fill(~keep, torch.finfo(torch.float64).min)
    return (scores.softmax(-1) @ v).transpose(1, 2)  # (B, T, nh, hd)


# (B, T, nh, hd, window): windows that do and do not divide the length or the 32-wide blocks, 0 (self only),
# one wider than the sequence (global attention again)
WINDOW_SHAPES = [(2, 7, 2, 16, 2), (1, 70, 1, 32, 5), (2, 33, 2, 48, 16), (1, 9, 1, 16, 0), (1, 12, 2, 16, 40)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", WINDOW_SHAPES, ids=str)
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
def test_sliding_window_padded(device, check_error, dtype, shape, masked):
    *size, window = shape
    q, k, v = qkv(tuple(size), dtype, device)
    mask = padding_mask(size[0], size[1], device) if masked else None
    out = kernels().attention(q, k, v, key_padding_mask=mask, window=window)
    torch_out = reference.attention(q, k, v, key_padding_mask=mask, window=window)
    rows = mask[:, :, None, None].expand(size) if masked else None
    check_error(out, torch_out, oracle_window(q, k, v, window, mask), dtype, where=rows)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("window", [0, 3, 31, 64])
def test_sliding_window_varlen(device, check_error, dtype, window):
    lengths = [1, 7, 0, 70, 20]  # an empty sequence included; 70 spans three key blocks
    cu_seqlens = torch.tensor([0] + lengths, dtype=torch.int32).cumsum(0, dtype=torch.int32).to(device)
    q, k, v = qkv((sum(lengths), 2, 16), dtype, device)
    out = kernels().attention(q, k, v, cu_seqlens=cu_seqlens, max_seqlen=max(lengths), window=window)
    torch_out = reference.attention(q, k, v, cu_seqlens=cu_seqlens, max_seqlen=max(lengths), window=window)
    want = oracle_varlen(q, k, v, cu_seqlens.cpu(), lambda *qkv: oracle_window(*qkv, window))
    check_error(out, torch_out, want, dtype)


def test_sliding_window_skips_key_blocks(device, monkeypatch):
    """A narrow window loads only the key blocks it overlaps: the loop bounds, not just masking, make it local."""
    module = importlib.import_module("fastenc.kernels.attention")
    q, k, v = qkv((1, 96, 1, 16), torch.float32, device)
    k_far = k.clone()
    k_far[:, 64:] = float("nan")  # keys no query of the first block (rows 0-31) may see with window 4
    v_far = v.clone()
    v_far[:, 64:] = float("nan")
    out = module.attention(q, k_far, v_far, window=4)
    assert torch.isfinite(out[:, :32]).all()  # a NaN key that were loaded would poison these rows
    torch.testing.assert_close(out[:, :32], module.attention(q, k, v, window=4)[:, :32], rtol=0, atol=0)


def test_window_must_be_a_non_negative_int(device):
    q, k, v = qkv((1, 4, 1, 16), torch.float32, device)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="window must be None or an int >= 0"):
            kernels().attention(q, k, v, window=bad)


def relative_bias(nh, device, num_buckets=32, max_distance=128, rows=None, dtype=torch.float32, seed=3):
    """MPNet's position bias with a random (rows, nh) table, wide enough that the bias moves the weights."""
    from fastenc.ops.relative_bias import RelativeBias

    g = torch.Generator().manual_seed(seed)
    table = (torch.randn(rows or num_buckets, nh, generator=g) * 2).to(dtype).to(device)
    return RelativeBias(table, num_buckets, max_distance)


def oracle_relative(q, k, v, position_bias, mask=None, window=None):
    """Float64 attention plus the reference's dense bias (fastenc.ops.relative_bias), over all keys or those at most
    `window` away: (B, T, nh, hd)."""
    from fastenc.ops.relative_bias import dense_bias

    q, k, v = (t.double().cpu().transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hd)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, nh, T, T)
    table = position_bias.table.double().cpu()
    cpu_bias = type(position_bias)(table, position_bias.num_buckets, position_bias.max_distance)
    scores = scores + dense_bias(cpu_bias, q.shape[2], k.shape[2])[None]  # (1, nh, T, T)
    if window is not None:
        outside = ~reference.window_keep(q.shape[2], k.shape[2], window, "cpu")  # (T, T)
        scores = scores.masked_fill(outside, torch.finfo(torch.float64).min)
    if mask is not None:
        scores = scores.masked_fill(~mask.cpu().bool()[:, None, None, :], torch.finfo(torch.float64).min)
    return (scores.softmax(-1) @ v).transpose(1, 2)  # (B, T, nh, hd)


# (B, T, nh, hd): head dims 16/32/48, a length of one, lengths inside the exact buckets (< 8), across the log
# buckets, and past max_distance 128 (the clamped last bucket) over several key blocks
RELATIVE_SHAPES = [(2, 1, 3, 16), (2, 7, 2, 32), (3, 40, 2, 48), (1, 140, 1, 16)]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", RELATIVE_SHAPES, ids=str)
@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
def test_relative_bias_padded(device, check_error, dtype, shape, masked):
    q, k, v = qkv(shape, dtype, device)
    bias = relative_bias(shape[2], device, dtype=dtype)
    mask = padding_mask(shape[0], shape[1], device) if masked else None
    out = kernels().attention(q, k, v, key_padding_mask=mask, position_bias=bias)
    torch_out = reference.attention(q, k, v, key_padding_mask=mask, position_bias=bias)
    rows = mask[:, :, None, None].expand(shape) if masked else None
    check_error(out, torch_out, oracle_relative(q, k, v, bias, mask), dtype, where=rows)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("head_dim", [16, 32, 48])
def test_relative_bias_varlen(device, check_error, dtype, head_dim):
    lengths = [1, 9, 0, 40, 23, 2]  # an empty sequence; lengths inside and past the exact buckets
    cu_seqlens = torch.tensor([0] + lengths, dtype=torch.int32).cumsum(0, dtype=torch.int32).to(device)
    q, k, v = qkv((sum(lengths), 2, head_dim), dtype, device)
    bias = relative_bias(2, device, rows=35, dtype=dtype)  # rows past the buckets read stay unread
    out = kernels().attention(q, k, v, cu_seqlens=cu_seqlens, max_seqlen=max(lengths), position_bias=bias)
    torch_out = reference.attention(q, k, v, cu_seqlens=cu_seqlens, max_seqlen=max(lengths), position_bias=bias)
    # Distances count within each packed sequence.
    want = oracle_varlen(q, k, v, cu_seqlens.cpu(), lambda *qkv: oracle_relative(*qkv, bias))
    check_error(out, torch_out, want, dtype)


@pytest.mark.parametrize("num_buckets,max_distance", [(32, 128), (16, 20), (8, 8), (4, 3), (64, 100)])
def test_relative_bias_buckets_are_the_reference(device, num_buckets, max_distance):
    """The kernel's buckets (its bias read by clamped distance) are the reference's at every distance, both
    directions, up to well past max_distance. With zero scores and table[b] = b / 2, each query's weights are
    softmax(bucket / 2): log-ratios of the weights read back the bucket of every (query, key)."""
    from fastenc.ops.relative_bias import RelativeBias, relative_position_bucket

    T, hd = max_distance + 40, 128  # the buckets settle at max_distance: 39 distances past it
    table = (torch.arange(num_buckets, dtype=torch.float32) / 2)[:, None].to(device)  # (buckets, 1 head)
    bias = RelativeBias(table, num_buckets, max_distance)
    q = torch.zeros(1, T, 1, hd, device=device)
    weights = torch.empty(T, T)
    for c0 in range(0, T, hd):  # values one-hot on `hd` keys at a time: out[i, d] is query i's weight of key c0 + d
        n = min(hd, T - c0)
        v = torch.zeros(1, T, 1, hd, device=device)
        v[0, c0:c0 + n, 0, :n] = torch.eye(n, device=device)
        weights[:, c0:c0 + n] = kernels().attention(q, q, v, position_bias=bias)[0, :, 0, :n].cpu()
    key_minus_query = torch.arange(T)[None, :] - torch.arange(T)[:, None]  # (T, T)
    want = relative_position_bucket(key_minus_query, num_buckets, max_distance)
    got = torch.round(2 * (weights.log() - weights[:, :1].log())).long() + want[:, :1]
    assert torch.equal(got, want)


@pytest.mark.parametrize("window", [0, 5])
def test_relative_bias_with_window(device, check_error, window):
    q, k, v = qkv((2, 37, 2, 16), torch.float32, device)
    bias = relative_bias(2, device)
    mask = padding_mask(2, 37, device)
    out = kernels().attention(q, k, v, key_padding_mask=mask, window=window, position_bias=bias)
    torch_out = reference.attention(q, k, v, key_padding_mask=mask, window=window, position_bias=bias)
    want = oracle_relative(q, k, v, bias, mask, window)
    check_error(out, torch_out, want, torch.float32, where=mask[:, :, None, None].expand(q.shape))


def test_relative_bias_errors_name_the_argument(device):
    from fastenc.ops.relative_bias import RelativeBias

    q, k, v = qkv((1, 4, 2, 16), torch.float32, device)
    cases = [(TypeError, "position_bias must be", "not a bias"),
             (ValueError, r"position_bias.table has shape \(32, 3\)", RelativeBias(torch.zeros(32, 3, device=device))),
             (ValueError, r"rows >= num_buckets 32", RelativeBias(torch.zeros(20, 2, device=device))),
             (TypeError, "position_bias.table has dtype torch.int64",
              RelativeBias(torch.zeros(32, 2, dtype=torch.long, device=device))),
             (ValueError, "even num_buckets", RelativeBias(torch.zeros(32, 2, device=device), 7, 10)),
             (ValueError, r"max_distance > num_buckets // 4 = 16, got num_buckets 64, max_distance 5",
              RelativeBias(torch.zeros(64, 2, device=device), 64, 5)),
             (ValueError, r"max_distance > num_buckets // 4 = 8, got num_buckets 32, max_distance 8",
              RelativeBias(torch.zeros(32, 2, device=device), 32, 8))]
    for error, message, bias in cases:
        with pytest.raises(error, match=message):
            kernels().attention(q, k, v, position_bias=bias)


def test_relative_bias_custom_op_schema(device):
    kernels()
    q, k, v = qkv((2, 5, 2, 16), torch.float32, device)
    args = (q, k, v, None, None, 5, 0.25, -1, torch.zeros(2, 257, device=device), 128)
    torch.library.opcheck(torch.ops.fastenc.attention.default, args, test_utils=("test_schema", "test_faketensor"))


@pytest.mark.parametrize("module_name", ["attention", "disentangled_attention"])
def test_tiles_are_pruned_to_the_gpus_shared_memory(monkeypatch, module_name):
    """A lone configuration (a table's winner; FASTENC_AUTOTUNE=0) is launched untimed, so no search would drop one
    that needs more shared memory than the GPU has: head_dim 256 in bf16 asks up to 320 KiB of the GPU tiles. The
    counts themselves are checked against the compiled kernels by tests/kernels/compile_for_gpu.py."""
    kernels()
    attention = importlib.import_module("fastenc.kernels.attention")
    module = importlib.import_module(f"fastenc.kernels.{module_name}")
    monkeypatch.setattr(module, "INTERPRET", False)
    configs = module._configs()  # the GPU's candidates, not the interpreter's one
    score_tiles = getattr(module, "SCORE_TILES", 0)

    def counted(config, block_d, element_size):
        return attention.tile_bytes(config, block_d, element_size, score_tiles)

    q = torch.empty(0, dtype=torch.bfloat16)

    def kept(block_d, limit):
        monkeypatch.setattr(attention, "shared_memory_limit", lambda t: limit)
        args = {"Q": q, "Mask": q, "HAS_MASK": False, "HAS_REL_BIAS": False, "SEQ_BUCKET": 512, "BLOCK_D": block_d}
        return module._prune(configs, args)

    h100 = 227 * 1024
    assert kept(64, h100) == configs  # the encoders' head_dim: every tile fits
    wide = kept(256, h100)
    assert 0 < len(wide) < len(configs) and all(counted(c, 256, 2) <= h100 for c in wide)
    assert kept(64, 1024) == [min(configs, key=lambda c: counted(c, 64, 2))]  # none fits: the smallest alone
    assert kept(256, None) == configs  # no bound known (the interpreter)

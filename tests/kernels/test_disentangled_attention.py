"""fastenc.kernels.disentangled_attention against fastenc.ops.disentangled (the PyTorch path at the same dtype) and
the same reference in float64 (the oracle)."""
import pytest
import torch

from fastenc.ops import disentangled

DTYPES = [torch.float32, torch.float16, torch.bfloat16]
# (span, position_buckets, max_relative_positions): buckets that do not cover the length, that do, clamped distances.
POSITIONS = {"buckets-4": (4, 4, 40), "buckets-64": (64, 64, 128), "clamped-12": (12, -1, 12)}


def kernel():
    from fastenc.kernels import disentangled_attention  # imported late: conftest sets TRITON_INTERPRET first

    return disentangled_attention


def inputs(shape, span, dtype, device, terms=("c2p", "p2c"), seed=0):
    """q, k, v (B, T, nh, hd) and pos_key, pos_query (2 * span, nh, hd) or None for a term that is off."""
    g = torch.Generator().manual_seed(seed)
    B, T, nh, hd = shape
    q, k, v = (torch.randn(shape, generator=g).to(dtype).to(device) for _ in range(3))
    pos = [torch.randn(2 * span, nh, hd, generator=g).to(dtype).to(device) for _ in range(2)]
    return q, k, v, pos[0] if "c2p" in terms else None, pos[1] if "p2c" in terms else None


def index_for(T, positions, device):
    span, buckets, max_relative = POSITIONS[positions]
    return disentangled.relative_index(T, span, buckets, max_relative, device=device)


def padding_mask(batch, seqlen, device):
    lengths = [max(1, seqlen - 5 * i) for i in range(batch)]
    return (torch.arange(seqlen)[None, :] < torch.tensor(lengths)[:, None]).to(device)  # (B, T)


def both_and_oracle(fn_args, kwargs):
    """(the PyTorch path at the inputs' dtype, the float64 oracle) for the same call."""
    same = disentangled.disentangled_attention(*fn_args, **kwargs)
    wide = [t.double().cpu() if isinstance(t, torch.Tensor) else t for t in fn_args]
    wide_kwargs = {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}
    return same, disentangled.disentangled_attention(*wide, **wide_kwargs)


SHAPES = [(2, 1, 3, 16), (2, 7, 2, 48), (3, 33, 2, 64), (1, 65, 1, 128)]  # (B, T, nh, hd)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_padded_with_mask(device, check_error, dtype, shape):
    args = inputs(shape, 4, dtype, device)
    mask = padding_mask(shape[0], shape[1], device)
    kwargs = dict(relative_index=index_for(shape[1], "buckets-4", device), key_padding_mask=mask, softmax_scale=0.2)
    out = kernel()(*args, **kwargs)
    check_error(out, *both_and_oracle(args, kwargs), dtype, where=mask.cpu())


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("head_dim", [16, 48], ids=str)
def test_varlen(device, check_error, dtype, head_dim):
    lengths = [33, 1, 17, 0, 40]
    cu_seqlens = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32, device=device)
    q, k, v, pos_key, pos_query = inputs((1, sum(lengths), 2, head_dim), 4, dtype, device)
    args = (q[0], k[0], v[0], pos_key, pos_query)  # (N, nh, hd)
    kwargs = dict(relative_index=index_for(40, "buckets-4", device), cu_seqlens=cu_seqlens, max_seqlen=40,
                  softmax_scale=head_dim ** -0.5 / 3 ** 0.5)
    out = kernel()(*args, **kwargs)
    check_error(out, *both_and_oracle(args, kwargs), dtype)


@pytest.mark.parametrize("terms", [("c2p", "p2c"), ("c2p",), ("p2c",), ()], ids="+".join)
@pytest.mark.parametrize("positions", list(POSITIONS))
def test_terms_and_position_maps(device, check_error, terms, positions):
    shape = (2, 37, 2, 32)
    span = POSITIONS[positions][0]
    args = inputs(shape, span, torch.float32, device, terms, seed=1)
    mask = padding_mask(shape[0], shape[1], device)
    kwargs = dict(relative_index=index_for(shape[1], positions, device), key_padding_mask=mask, softmax_scale=0.15)
    check_error(kernel()(*args, **kwargs), *both_and_oracle(args, kwargs), torch.float32, where=mask.cpu())


def test_fused_qkv_views_and_a_longer_index_table(device, check_error):
    """q, k, v as strided slices of one fused projection (as the model passes them) and a table built for a longer
    length than this batch (as the encoder builds one per forward)."""
    g = torch.Generator().manual_seed(3)
    qkv = torch.randn(2, 20, 3, 2, 16, generator=g).to(device)  # (B, T, 3, nh, hd)
    q, k, v = qkv.unbind(2)
    pos_key, pos_query = (torch.randn(8, 2, 16, generator=g).to(device) for _ in range(2))
    args = (q, k, v, pos_key, pos_query)
    kwargs = dict(relative_index=index_for(30, "buckets-4", device), softmax_scale=0.25)
    check_error(kernel()(*args, **kwargs), *both_and_oracle(args, kwargs), torch.float32)


def test_relative_index_is_transformers_bucketing():
    """The table's columns are transformers' build_relative_position for every query-key pair."""
    from transformers.models.deberta_v2.modeling_deberta_v2 import build_relative_position

    for T, buckets, max_relative in ((50, 8, 36), (20, 256, 512), (30, -1, 12)):
        span = buckets if buckets > 0 else max_relative
        x = torch.zeros(1, T, 1)
        theirs = build_relative_position(x, x, bucket_size=buckets, max_position=max_relative)[0]  # (T, T)
        index = disentangled.relative_index(T, span, buckets, max_relative)
        d = torch.arange(T)[:, None] - torch.arange(T)[None, :] + T - 1
        assert torch.equal(index[0][d].long(), (theirs + span).clamp(0, 2 * span - 1))
        assert torch.equal(index[1][d].long(), (-theirs.T + span).clamp(0, 2 * span - 1))


@pytest.mark.parametrize("case", ["short_index", "index_dtype", "pos_shape", "index_range", "mask_with_varlen"])
def test_launcher_errors_name_the_argument(device, case):
    q, k, v, pos_key, pos_query = inputs((2, 9, 2, 16), 4, torch.float32, device)
    kwargs = dict(relative_index=index_for(9, "buckets-4", device))
    if case == "short_index":
        kwargs["relative_index"], match = index_for(5, "buckets-4", device), "relative_index has 9 columns"
    elif case == "index_dtype":
        kwargs["relative_index"], match = kwargs["relative_index"].long(), "relative_index has dtype"
    elif case == "pos_shape":
        pos_query, match = pos_query[:, :1], "pos_query has shape"
    elif case == "index_range":
        kwargs["relative_index"], match = kwargs["relative_index"] + 8, "outside"
    else:
        q, k, v = (t.reshape(18, 2, 16) for t in (q, k, v))
        kwargs.update(cu_seqlens=torch.tensor([0, 9, 18], dtype=torch.int32, device=device),
                      key_padding_mask=torch.ones(2, 9, device=device))
        match = "key_padding_mask is for padded"
    with pytest.raises((ValueError, TypeError), match=match):
        kernel()(q, k, v, pos_key, pos_query, **kwargs)


def test_custom_op_fake_and_opcheck(device):
    q, k, v, pos_key, pos_query = inputs((2, 5, 2, 16), 4, torch.float32, device)
    index = index_for(5, "buckets-4", device)
    args = (q, k, v, pos_key, pos_query, index, None, None, 0, 0.25)
    torch.library.opcheck(torch.ops.fastenc.disentangled_attention.default, args,
                          test_utils=("test_schema", "test_faketensor"))

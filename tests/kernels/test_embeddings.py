"""fastenc.kernels.embeddings against fastenc.ops.reference.embeddings and a float64 oracle."""
import pytest
import torch
import torch.nn.functional as F

from fastenc.ops import reference

DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def kernels():
    import fastenc.kernels as k  # imported late: conftest sets TRITON_INTERPRET first

    return k


def tables(hidden, dtype, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    word, position, token_type = (torch.randn(n, hidden, generator=g).to(dtype).to(device) for n in (50, 40, 2))
    ln_weight, ln_bias = (torch.randn(hidden, generator=g).to(device) for _ in range(2))
    return word, position, token_type, ln_weight, ln_bias


def ids(batch, seqlen, device, dtype=torch.int64, seed=0):
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(0, 50, (batch, seqlen), generator=g)
    position_ids = torch.arange(seqlen)[None, :] + 2  # (1, T): broadcast over the batch, as transformers passes it
    token_type_ids = torch.randint(0, 2, (batch, seqlen), generator=g)
    return [t.to(dtype).to(device) for t in (input_ids, position_ids, token_type_ids)]


def oracle(input_ids, position_ids, token_type_ids, word, position, token_type, ln_weight, ln_bias, eps):
    x = word.double().cpu()[input_ids.cpu()]
    if position is not None:
        x = x + position.double().cpu()[position_ids.cpu()]
    if token_type is not None:
        x = x + token_type.double().cpu()[token_type_ids.cpu()]
    return F.layer_norm(x, x.shape[-1:], ln_weight.double().cpu(), ln_bias.double().cpu(), eps)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("hidden", [33, 384, 1000])
@pytest.mark.parametrize("tables_present", ["all", "no_token_type", "word_only"])
def test_matches_reference(device, check_error, dtype, hidden, tables_present):
    word, position, token_type, ln_weight, ln_bias = tables(hidden, dtype, device)
    position = None if tables_present == "word_only" else position
    token_type = None if tables_present != "all" else token_type
    args = (*ids(3, 7, device), word, position, token_type, ln_weight, ln_bias, 1e-12)
    out = kernels().embeddings(*args)
    check_error(out, reference.embeddings(*args), oracle(*args), dtype)


@pytest.mark.parametrize("shape", [(1, 1), (65,), (2, 3, 5)], ids=str)
def test_id_shapes_and_int32_ids(device, check_error, shape):
    word, position, token_type, ln_weight, ln_bias = tables(48, torch.float32, device)
    g = torch.Generator().manual_seed(3)
    input_ids, type_ids = (torch.randint(0, n, shape, generator=g, dtype=torch.int32).to(device) for n in (50, 2))
    position_ids = torch.randint(0, 40, shape, generator=g).to(device)  # int64 beside int32 ids
    args = (input_ids, position_ids, type_ids, word, position, token_type, ln_weight, ln_bias, 1e-5)
    out = kernels().embeddings(*args)
    assert out.shape == (*shape, 48)
    check_error(out, reference.embeddings(*args), oracle(*args), torch.float32)


def _bad_inputs(device):
    word, position, token_type, ln_weight, ln_bias = tables(32, torch.float16, device)
    input_ids, position_ids, token_type_ids = ids(2, 5, device)
    good = dict(input_ids=input_ids, position_ids=position_ids, token_type_ids=token_type_ids, word=word,
                position=position, token_type=token_type, ln_weight=ln_weight, ln_bias=ln_bias, eps=1e-5)
    return [
        (TypeError, "input_ids has dtype torch.float32", dict(good, input_ids=input_ids.float())),
        (ValueError, "position_ids is None but its table is given", dict(good, position_ids=None)),
        (ValueError, r"token_type_ids has shape \(2, 4\)", dict(good, token_type_ids=token_type_ids[:, :4])),
        (TypeError, "position has dtype torch.float32", dict(good, position=position.float())),
        (ValueError, r"token_type has shape \(2, 16\)", dict(good, token_type=token_type[:, :16])),
        (ValueError, "word must be contiguous in its last dimension", dict(good, word=word.t())),
        (ValueError, r"ln_bias has shape \(31,\)", dict(good, ln_bias=ln_bias[:31])),
        (ValueError, "input_ids is on", dict(good, input_ids=input_ids.to("meta"))),
    ]


@pytest.mark.parametrize("case", range(8))
def test_launcher_errors_name_the_argument(device, case):
    error, message, kwargs = _bad_inputs(device)[case]
    with pytest.raises(error, match=message):
        kernels().embeddings(**kwargs)


def test_custom_op(device):
    kernels()
    word, position, token_type, ln_weight, ln_bias = tables(40, torch.float16, device)
    input_ids, position_ids, token_type_ids = ids(2, 5, device)
    op = torch.ops.fastenc.embeddings.default
    for args in (
        (input_ids, position_ids, token_type_ids, word, position, token_type, ln_weight, ln_bias, 1e-5),
        (input_ids, None, None, word, None, None, ln_weight, ln_bias, 1e-5),
    ):
        torch.library.opcheck(op, args, test_utils=("test_schema", "test_faketensor"))

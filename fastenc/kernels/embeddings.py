"""Word + position + token-type embedding gather, then LayerNorm, in one kernel: one program per token."""
from typing import Optional

import torch
import triton
import triton.language as tl

from ._utils import (FLOAT_DTYPES, INDEX_DTYPES, check_device, check_dtype, check_last_dim_contiguous, kernel_op,
                     row_settings)
from .layer_norm import check_norm_params, normalize_row


@triton.jit
def _embeddings_kernel(
    InputIds, PositionIds, TokenTypeIds,  # (R, T) ids, int32 or int64, any strides (0 where broadcast)
    Word, Position, TokenType,  # (V, E), (P, E), (G, E) tables, rows contiguous
    W, B,  # (E,) LayerNorm scale and shift
    Out,  # (R * T, E) contiguous, the tables' dtype
    stride_ib, stride_it,  # InputIds strides in elements
    stride_pb, stride_pt,  # PositionIds strides
    stride_tb, stride_tt,  # TokenTypeIds strides
    stride_word, stride_pos, stride_type,  # table row strides
    seqlen,  # T: splits the token index into (row, column) of the id tensors
    n_cols,  # E
    eps,  # LayerNorm epsilon
    HAS_POSITION: tl.constexpr,  # add Position[PositionIds]
    HAS_TOKEN_TYPE: tl.constexpr,  # add TokenType[TokenTypeIds]
    BLOCK_N: tl.constexpr,  # next power of two >= E
):
    token = tl.program_id(0).to(tl.int64)
    b = token // seqlen
    t = token % seqlen
    cols = tl.arange(0, BLOCK_N)
    ok = cols < n_cols
    word_id = tl.load(InputIds + b * stride_ib + t * stride_it).to(tl.int64)
    x = tl.load(Word + word_id * stride_word + cols, mask=ok, other=0.0).to(tl.float32)
    # Token types before positions, the order transformers (and the reference) add them in.
    if HAS_TOKEN_TYPE:
        type_id = tl.load(TokenTypeIds + b * stride_tb + t * stride_tt).to(tl.int64)
        x += tl.load(TokenType + type_id * stride_type + cols, mask=ok, other=0.0).to(tl.float32)
    if HAS_POSITION:
        pos_id = tl.load(PositionIds + b * stride_pb + t * stride_pt).to(tl.int64)
        x += tl.load(Position + pos_id * stride_pos + cols, mask=ok, other=0.0).to(tl.float32)
    y = normalize_row(x, ok, cols, n_cols, W, B, eps)
    tl.store(Out + token * n_cols + cols, y.to(Out.dtype.element_ty), mask=ok)


@kernel_op("embeddings")
def _embeddings_op(
    input_ids: torch.Tensor,
    position_ids: Optional[torch.Tensor],
    token_type_ids: Optional[torch.Tensor],
    word: torch.Tensor,
    position: Optional[torch.Tensor],
    token_type: Optional[torch.Tensor],
    ln_weight: torch.Tensor,
    ln_bias: torch.Tensor,
    eps: float,
) -> torch.Tensor:
    shape, n_cols = tuple(input_ids.shape), word.shape[1]
    out = torch.empty((*shape, n_cols), dtype=word.dtype, device=word.device)
    if out.numel() == 0:
        return out
    seqlen = shape[-1] if shape else 1

    def as_rows(ids):  # broadcast to input_ids' shape, then (R, T): strides of 0 where broadcast, no copy in 2-D
        return ids.expand(shape).reshape(-1, seqlen)

    has_position, has_token_type = position is not None, token_type is not None
    ids = as_rows(input_ids)
    pos_ids = as_rows(position_ids) if has_position else ids  # ids: placeholder, never read
    type_ids = as_rows(token_type_ids) if has_token_type else ids
    block_n, num_warps = row_settings(n_cols)
    _embeddings_kernel[(ids.numel(),)](
        ids, pos_ids, type_ids,
        word, position if has_position else word, token_type if has_token_type else word,
        ln_weight, ln_bias, out,
        *ids.stride(), *pos_ids.stride(), *type_ids.stride(),
        word.stride(0), position.stride(0) if has_position else 0, token_type.stride(0) if has_token_type else 0,
        seqlen, n_cols, eps,
        HAS_POSITION=has_position, HAS_TOKEN_TYPE=has_token_type, BLOCK_N=block_n, num_warps=num_warps,
    )
    return out


@_embeddings_op.register_fake
def _(input_ids, position_ids, token_type_ids, word, position, token_type, ln_weight, ln_bias, eps):
    return word.new_empty((*input_ids.shape, word.shape[1]))


def _check_table(name, table, word):
    check_device(name, table, like=word)
    if table.dim() != 2 or table.shape[1] != word.shape[1]:
        raise ValueError(f"{name} has shape {tuple(table.shape)}; expected (*, {word.shape[1]}) like word")
    if table.dtype != word.dtype:
        raise TypeError(f"{name} has dtype {table.dtype}; expected word's dtype {word.dtype}")
    check_last_dim_contiguous(name, table)


def _check_ids(name, ids, input_ids):
    if ids is None:
        raise ValueError(f"{name} is None but its table is given")
    check_device(name, ids, like=input_ids)
    check_dtype(name, ids, INDEX_DTYPES)
    try:
        if torch.broadcast_shapes(ids.shape, input_ids.shape) != input_ids.shape:
            raise RuntimeError
    except RuntimeError:
        raise ValueError(
            f"{name} has shape {tuple(ids.shape)}; expected input_ids' shape {tuple(input_ids.shape)} or one that "
            "broadcasts to it"
        ) from None


def embeddings(input_ids, position_ids, token_type_ids, word, position, token_type, ln_weight, ln_bias, eps: float, *,
               check: bool = True):
    """word[input_ids] + token_type[token_type_ids] + position[position_ids], then LayerNorm, in one pass.

    Same contract as `fastenc.ops.reference.embeddings`: `position` / `token_type` may be None (their ids are then
    ignored); ids are int32 or int64, position/token-type ids may broadcast to input_ids' shape (e.g. (1, T)).
    Tables share one float dtype, which the result has; the sum and the statistics are float32. Ids must be in range:
    they are not checked on the device. `check=False` skips the argument checks, for callers (the model) that
    validated their inputs once per forward.
    """
    if check:
        _check(input_ids, position_ids, token_type_ids, word, position, token_type, ln_weight, ln_bias)
    return _embeddings_op(
        input_ids,
        position_ids if position is not None else None,
        token_type_ids if token_type is not None else None,
        word, position, token_type, ln_weight, ln_bias, float(eps),
    )


def _check(input_ids, position_ids, token_type_ids, word, position, token_type, ln_weight, ln_bias) -> None:
    check_device("word", word)
    check_dtype("word", word, FLOAT_DTYPES)
    if word.dim() != 2:
        raise ValueError(f"word has shape {tuple(word.shape)}; expected (vocab_size, hidden)")
    check_last_dim_contiguous("word", word)
    row_settings(word.shape[1])
    check_device("input_ids", input_ids, like=word)
    check_dtype("input_ids", input_ids, INDEX_DTYPES)
    if position is not None:
        _check_table("position", position, word)
        _check_ids("position_ids", position_ids, input_ids)
    if token_type is not None:
        _check_table("token_type", token_type, word)
        _check_ids("token_type_ids", token_type_ids, input_ids)
    check_norm_params(ln_weight, ln_bias, word.shape[1], like=word, names=("ln_weight", "ln_bias"))

"""DeBERTa's disentangled attention with an online softmax, padded or variable-length: no T x T matrix in memory.

Per (query block, sequence, head) the kernel walks the key blocks as fastenc.kernels.attention does, and adds the
relative-position terms to each score tile in registers: c2p[i, c(i - j)] and p2c[j, p(i - j)], gathered from
per-token tables of dot products with every relative embedding row (q . pos_key and k . pos_query, (tokens, nh, 2S),
one matrix product each in the launcher) through the (2, 2T - 1) bucket table of fastenc.ops.disentangled. Memory is
linear in the length: 2S float32 values per token and head (per term) instead of T.
"""
import math
from typing import Optional

import torch
import triton
import triton.language as tl

from ._utils import INTERPRET, check_device, check_dtype, check_last_dim_contiguous, check_shape, kernel_op
from .attention import _MASKED, LOG2E, program_rows, prune_attention_tiles
from .attention import _check as check_attention_inputs
from .tuned import from_table


def _configs():
    if INTERPRET:  # one small config: autotuning in the interpreter costs minutes
        return [triton.Config({"BLOCK_M": 32, "BLOCK_N": 32}, num_warps=4, num_stages=1)]
    # The two gathers per tile cost registers: tiles stay at most 128 x 64.
    return [triton.Config({"BLOCK_M": m, "BLOCK_N": n}, num_warps=w, num_stages=s)
            for m in (64, 128) for n in (32, 64) for w in (4, 8) for s in (2, 3) if w == 4 or m == 128]


# Scratch of the two gathers' layout conversions, in float32 score tiles: at most 3 measured for sm_90
# (tests/kernels/compile_for_gpu.py).
SCORE_TILES = 3


def _prune(configs, named_args, **kwargs):
    return prune_attention_tiles(configs, {**named_args, **kwargs}, SCORE_TILES)


@from_table  # a committed winner per key where fastenc/kernels/tuned_tables/ has this GPU's table
@triton.autotune(configs=_configs(), key=["SEQ_BUCKET", "BLOCK_D", "VARLEN", "HAS_MASK", "HAS_C2P", "HAS_P2C"],
                 prune_configs_by={"early_config_prune": _prune}, cache_results=True)
@triton.jit
def _disentangled_kernel(
    Q, K, V,  # (B, T, nh, hd) padded or (N, nh, hd) packed; any strides, last dimension contiguous
    Out,  # same layout as Q, contiguous
    Mask,  # (B, T) key padding, nonzero = attend; read only if HAS_MASK
    CuSeqlens,  # (B + 1,) int32 sequence offsets; read only if VARLEN
    C2P,  # (.., nh, 2S) float32 q . pos_key per query token, laid out like Q's tokens; read only if HAS_C2P
    P2C,  # (.., nh, 2S) float32 k . pos_query per key token; read only if HAS_P2C
    RelIdx,  # (2, 2L - 1) int32: row of the 2S for distance d = i - j at column d + L - 1 (c2p row 0, p2c row 1)
    stride_qb, stride_qt, stride_qh,  # Q strides in elements (batch stride 0 when VARLEN)
    stride_kb, stride_kt, stride_kh,
    stride_vb, stride_vt, stride_vh,
    stride_ob, stride_ot, stride_oh,
    stride_mb, stride_mt,
    stride_cb, stride_ct, stride_ch,  # C2P strides (last dimension contiguous)
    stride_pb, stride_pt, stride_ph,  # P2C strides
    stride_r,  # RelIdx row stride, 2L - 1
    rel_center,  # L - 1: the column of distance 0
    num_heads,
    seqlen,  # T, or max_seqlen when VARLEN
    head_dim,
    qk_scale,  # softmax_scale * log2(e): the softmax runs on exp2
    SEQ_BUCKET,  # next power of two >= seqlen; an autotune key only
    VARLEN: tl.constexpr,
    HAS_MASK: tl.constexpr,
    HAS_C2P: tl.constexpr,  # add the content-to-position term
    HAS_P2C: tl.constexpr,  # add the position-to-content term
    IS_FP32: tl.constexpr,  # fp32 inputs: full-precision dot products (no tf32)
    BLOCK_D: tl.constexpr,  # next power of two >= head_dim (at least 16 for tl.dot)
    BLOCK_M: tl.constexpr,  # queries per program
    BLOCK_N: tl.constexpr,  # keys per loop step
):
    m0, b, h, start, length = program_rows(CuSeqlens, num_heads, seqlen, VARLEN, BLOCK_M)
    if m0 >= length:  # a query block past the end of a shorter sequence
        return

    offs_m = tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < head_dim
    m_ok = (m0 + offs_m) < length

    row0 = (start + m0).to(tl.int64)  # this block's first query, in tokens of Q's layout
    q_ptrs = Q + b * stride_qb + h * stride_qh + row0 * stride_qt
    q_ptrs = q_ptrs + offs_m[:, None] * stride_qt + offs_d[None, :]  # (BLOCK_M, BLOCK_D)
    q = tl.load(q_ptrs, mask=m_ok[:, None] & d_ok[None, :], other=0.0)
    k_ptrs = K + b * stride_kb + h * stride_kh + start * stride_kt
    k_ptrs = k_ptrs + offs_n[None, :] * stride_kt + offs_d[:, None]  # (BLOCK_D, BLOCK_N): K transposed
    v_ptrs = V + b * stride_vb + h * stride_vh + start * stride_vt
    v_ptrs = v_ptrs + offs_n[:, None] * stride_vt + offs_d[None, :]  # (BLOCK_N, BLOCK_D)
    mask_ptrs = Mask + b * stride_mb + offs_n * stride_mt  # (BLOCK_N,)
    c2p_rows = C2P + b * stride_cb + h * stride_ch + (row0 + offs_m) * stride_ct  # (BLOCK_M,) each query's table
    p2c_rows = P2C + b * stride_pb + h * stride_ph + (start + offs_n) * stride_pt  # (BLOCK_N,) each key's table

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)  # running max of the scores (log2 domain)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)  # running sum of exp2(score - m_i)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)  # running sum of weights @ V
    for n0 in range(0, length, BLOCK_N):
        n_ok = (n0 + offs_n) < length
        k = tl.load(k_ptrs, mask=d_ok[:, None] & n_ok[None, :], other=0.0)
        if IS_FP32:
            s = tl.dot(q, k, input_precision="ieee")
        else:
            s = tl.dot(q, k)  # (BLOCK_M, BLOCK_N) content to content
        if HAS_C2P or HAS_P2C:
            both = m_ok[:, None] & n_ok[None, :]
            column = (m0 + offs_m)[:, None] - (n0 + offs_n)[None, :] + rel_center  # (BLOCK_M, BLOCK_N): i - j
            if HAS_C2P:
                row = tl.load(RelIdx + column, mask=both, other=0)
                s += tl.load(c2p_rows[:, None] + row, mask=both, other=0.0)
            if HAS_P2C:
                row = tl.load(RelIdx + stride_r + column, mask=both, other=0)
                s += tl.load(p2c_rows[None, :] + n0 * stride_pt + row, mask=both, other=0.0)
        s = s * qk_scale
        if HAS_MASK:
            keep = tl.load(mask_ptrs, mask=n_ok, other=0) != 0
            s = tl.where(keep[None, :], s, _MASKED)
        s = tl.where(n_ok[None, :], s, float("-inf"))  # keys past the end do not exist
        m_new = tl.maximum(m_i, tl.max(s, 1))  # finite: every step holds a key in range
        alpha = tl.math.exp2(m_i - m_new)
        p = tl.math.exp2(s - m_new[:, None])
        v = tl.load(v_ptrs, mask=n_ok[:, None] & d_ok[None, :], other=0.0)
        acc = acc * alpha[:, None]
        if IS_FP32:
            acc = tl.dot(p, v, acc, input_precision="ieee")
        else:
            acc = tl.dot(p.to(v.dtype), v, acc)
        l_i = l_i * alpha + tl.sum(p, 1)
        m_i = m_new
        k_ptrs += BLOCK_N * stride_kt
        v_ptrs += BLOCK_N * stride_vt
        mask_ptrs += BLOCK_N * stride_mt

    out = acc / l_i[:, None]
    o_ptrs = Out + b * stride_ob + h * stride_oh + row0 * stride_ot
    o_ptrs = o_ptrs + offs_m[:, None] * stride_ot + offs_d[None, :]
    tl.store(o_ptrs, out.to(Out.dtype.element_ty), mask=m_ok[:, None] & d_ok[None, :])


def _position_table(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """x (..., nh, hd) tokens against pos (2S, nh, hd) rows -> (..., nh, 2S) dot products in float32: a bf16 table
    would round every position term by 2^-9 of its size, a larger error than the softmax's own."""
    lead = x.shape[:-2]
    nh, hd = x.shape[-2:]
    xt = x.reshape(-1, nh, hd).transpose(0, 1).float()  # (nh, tokens, hd)
    table = torch.bmm(xt, pos.permute(1, 2, 0).float())  # (nh, tokens, 2S)
    return table.transpose(0, 1).reshape(*lead, nh, pos.shape[0])


@kernel_op("disentangled_attention")
def _disentangled_op(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    pos_key: Optional[torch.Tensor],
    pos_query: Optional[torch.Tensor],
    relative_index: torch.Tensor,
    key_padding_mask: Optional[torch.Tensor],
    cu_seqlens: Optional[torch.Tensor],
    max_seqlen: int,
    softmax_scale: float,
) -> torch.Tensor:
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    varlen = cu_seqlens is not None
    if varlen:
        num_seqs, seqlen = cu_seqlens.shape[0] - 1, max_seqlen
    else:
        num_seqs, seqlen = q.shape[0], q.shape[1]
    if out.numel() == 0 or seqlen == 0:
        return out
    c2p = _position_table(q, pos_key) if pos_key is not None else None
    p2c = _position_table(k, pos_query) if pos_query is not None else None

    def strides(t):  # (batch, token, head) strides; batch 0 for packed tokens
        return (0, *t.stride()[:2]) if varlen else t.stride()[:3]

    has_mask = key_padding_mask is not None
    placeholder = (0, 0, 0)  # strides of a table that is not read

    def grid(meta):
        return (triton.cdiv(seqlen, meta["BLOCK_M"]) * num_seqs * q.shape[-2],)

    _disentangled_kernel[grid](
        q, k, v, out,
        key_padding_mask if has_mask else q,  # placeholder pointers, never read
        cu_seqlens if varlen else q,
        c2p if c2p is not None else q,
        p2c if p2c is not None else q,
        relative_index,
        *strides(q), *strides(k), *strides(v), *strides(out),
        *(key_padding_mask.stride() if has_mask else (0, 0)),
        *(strides(c2p) if c2p is not None else placeholder),
        *(strides(p2c) if p2c is not None else placeholder),
        relative_index.stride(0), (relative_index.shape[1] - 1) // 2,
        q.shape[-2], seqlen, q.shape[-1], softmax_scale * LOG2E, triton.next_power_of_2(seqlen),
        VARLEN=varlen, HAS_MASK=has_mask, HAS_C2P=c2p is not None, HAS_P2C=p2c is not None,
        IS_FP32=q.dtype == torch.float32, BLOCK_D=max(16, triton.next_power_of_2(q.shape[-1])),
    )
    return out


@_disentangled_op.register_fake
def _(q, k, v, pos_key, pos_query, relative_index, key_padding_mask, cu_seqlens, max_seqlen, softmax_scale):
    return q.new_empty(q.shape)


def _check(q, k, v, pos_key, pos_query, relative_index, key_padding_mask, cu_seqlens, max_seqlen, seqlen):
    """The attention kernel's checks of q, k, v, the mask and cu_seqlens, then the position inputs'."""
    check_attention_inputs(q, k, v, key_padding_mask, cu_seqlens, max_seqlen)
    nh, hd = q.shape[-2:]
    rows = None
    for name, t in (("pos_key", pos_key), ("pos_query", pos_query)):
        if t is None:
            continue
        check_device(name, t, like=q)
        check_shape(name, t, (rows, nh, hd))
        rows = t.shape[0]
    check_device("relative_index", relative_index, like=q)
    check_dtype("relative_index", relative_index, (torch.int32,))
    check_shape("relative_index", relative_index, (2, None))
    check_last_dim_contiguous("relative_index", relative_index)
    if relative_index.shape[1] < 2 * seqlen - 1:
        raise ValueError(f"relative_index has {relative_index.shape[1]} columns; sequences of {seqlen} tokens need "
                         f"{2 * seqlen - 1} (fastenc.ops.disentangled.relative_index for that length)")
    if rows is not None and relative_index.numel() and (int(relative_index.min()) < 0
                                                         or int(relative_index.max()) >= rows):
        raise ValueError(f"relative_index holds rows outside [0, {rows}) of pos_key / pos_query")


def disentangled_attention(q, k, v, pos_key, pos_query, *, relative_index, key_padding_mask=None, cu_seqlens=None,
                           max_seqlen=None, softmax_scale=None, check: bool = True):
    """Same contract as fastenc.ops.disentangled.disentangled_attention: q, k, v (B, T, nh, hd) padded with
    key_padding_mask, or (N, nh, hd) packed with cu_seqlens (B + 1,) int32 and max_seqlen at least the longest
    sequence; pos_key / pos_query (2S, nh, hd) or None; relative_index (2, >= 2T - 1) int32. Returns q's shape and
    dtype; softmax in float32. `check=False` skips the argument checks (the model validates once per forward)."""
    if cu_seqlens is not None and max_seqlen is None:
        max_seqlen = int((cu_seqlens[1:] - cu_seqlens[:-1]).max()) if cu_seqlens.shape[0] > 1 else 0
    seqlen = int(max_seqlen or 0) if cu_seqlens is not None else (q.shape[1] if q.dim() > 1 else 0)
    if check:
        _check(q, k, v, pos_key, pos_query, relative_index, key_padding_mask, cu_seqlens, max_seqlen, seqlen)
    if softmax_scale is None:
        softmax_scale = 1.0 / math.sqrt(q.shape[-1])
    return _disentangled_op(q, k, v, pos_key, pos_query, relative_index, key_padding_mask, cu_seqlens,
                            int(max_seqlen or 0), float(softmax_scale))

"""Bidirectional attention with an online softmax (never a T x T matrix), padded or variable-length, over all keys or
a sliding window (ModernBERT's local layers: key blocks outside the window are never loaded), optionally adding
MPNet's relative position bias (read per tile from a small (heads, distances) table at each key - query distance),
in one kernel."""
import math
from typing import Optional

import torch
import triton
import triton.language as tl

from ._utils import (FLOAT_DTYPES, INTERPRET, check_device, check_dtype, check_last_dim_contiguous, check_shape,
                     configs_that_fit, kernel_op, shared_memory_limit)
from .tuned import from_table

LOG2E = 1.4426950408889634
# Score given to a padded key: the most negative finite float32, as the reference uses. A row whose keys are all
# padding then gets uniform weights over them, like the reference, instead of 0/0.
_MASKED = tl.constexpr(-3.4028234663852886e38)
_LOG2E = tl.constexpr(LOG2E)  # the kernels' copy: a jitted function reads only constexpr globals


@triton.jit
def program_rows(CuSeqlens, num_heads, seqlen, VARLEN: tl.constexpr, BLOCK_M: tl.constexpr):
    """(first query m0, sequence b, head h, first token start, length) of this program. One program per (query
    block, sequence, head); query blocks vary fastest so a head's K, V stay in L2. Shared by every attention kernel."""
    pid = tl.program_id(0)
    num_m = tl.cdiv(seqlen, BLOCK_M)
    m0 = (pid % num_m) * BLOCK_M
    pid_bh = pid // num_m
    b = (pid_bh // num_heads).to(tl.int64)
    h = (pid_bh % num_heads).to(tl.int64)
    if VARLEN:
        start = tl.load(CuSeqlens + b).to(tl.int64)  # first token of this sequence
        length = (tl.load(CuSeqlens + b + 1).to(tl.int64) - start).to(tl.int32)
    else:
        start = tl.zeros([], dtype=tl.int64)
        length = tl.full([], seqlen, dtype=tl.int32)
    return m0, b, h, start, length


@triton.jit
def relative_bias(RelBias, h, rows, cols, stride_rh, stride_rd, radius):
    """(BLOCK_M, BLOCK_N) float32 bias of queries `rows` and keys `cols` (positions in the sequence) for head h: the
    column of RelBias at each key - query distance, clamped to +-radius (farther distances share the end columns)."""
    rel = cols[None, :] - rows[:, None]  # (BLOCK_M, BLOCK_N) key - query
    column = tl.minimum(tl.maximum(rel, -radius), radius) + radius
    return tl.load(RelBias + h * stride_rh + column * stride_rd).to(tl.float32)


@triton.jit
def load_tile(ptrs, rows_ok, cols_ok, CHECK_ROWS: tl.constexpr, CHECK_COLS: tl.constexpr):
    """A 2-D tile, masked only along the dimensions that may overrun: a whole tile loads with no predicate, which
    leaves the compiler free to vectorise and pipeline it."""
    if CHECK_ROWS:
        if CHECK_COLS:
            tile = tl.load(ptrs, mask=rows_ok[:, None] & cols_ok[None, :], other=0.0)
        else:
            tile = tl.load(ptrs, mask=rows_ok[:, None], other=0.0)
    else:
        if CHECK_COLS:
            tile = tl.load(ptrs, mask=cols_ok[None, :], other=0.0)
        else:
            tile = tl.load(ptrs)
    return tile


@triton.jit
def _attend_key_block(acc, m_i, l_i, q, k_ptrs, v_ptrs, mask_ptrs, n0, hi, m0, h, d_ok, qk_scale, window, RelBias,
                      stride_rh, stride_rd, rel_radius, HAS_MASK: tl.constexpr, HAS_WINDOW: tl.constexpr,
                      HAS_REL_BIAS: tl.constexpr, IS_FP32: tl.constexpr, EVEN_D: tl.constexpr,
                      BOUNDARY: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """One step of the online softmax over the keys n0 .. n0 + BLOCK_N: (acc, m_i, l_i) updated. BOUNDARY: the block
    may run past `hi` (the last one), so its keys are bounds-checked; the others are whole and skip every check."""
    offs_m = tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    n_ok = (n0 + offs_n) < hi
    k = load_tile(k_ptrs, d_ok, n_ok, not EVEN_D, BOUNDARY)  # (BLOCK_D, BLOCK_N)
    if IS_FP32:
        s = tl.dot(q, k, input_precision="ieee")
    else:
        s = tl.dot(q, k)
    s = s * qk_scale  # (BLOCK_M, BLOCK_N)
    if HAS_REL_BIAS:
        s += relative_bias(RelBias, h, m0 + offs_m, n0 + offs_n, stride_rh, stride_rd, rel_radius) * _LOG2E
    if HAS_MASK:
        if BOUNDARY:
            keep = tl.load(mask_ptrs, mask=n_ok, other=0) != 0
        else:
            keep = tl.load(mask_ptrs) != 0
        # Added rather than selected, so the scaling and the max subtraction still contract into one FMA: a finite
        # score plus the most negative float rounds to it exactly, the reference's masked score (a NaN stays NaN,
        # as in the reference).
        s += tl.where(keep, 0.0, _MASKED)[None, :]
    if BOUNDARY:
        s = tl.where(n_ok[None, :], s, float("-inf"))  # keys past the end do not exist
    if HAS_WINDOW:
        distance = (m0 + offs_m)[:, None] - (n0 + offs_n)[None, :]  # (BLOCK_M, BLOCK_N)
        s = tl.where((distance <= window) & (distance >= -window), s, float("-inf"))
        # A row may see no key of this block yet (m_new = -inf): shift by 0 then, so exp2 gives 0, not NaN.
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_shift = tl.where(m_new == float("-inf"), 0.0, m_new)
    else:
        # Every block holds at least one key in range, so m_new is finite and nothing below is NaN.
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_shift = m_new
    alpha = tl.math.exp2(m_i - m_shift)  # rescales what was accumulated under the old max
    p = tl.math.exp2(s - m_shift[:, None])
    v = load_tile(v_ptrs, n_ok, d_ok, BOUNDARY, not EVEN_D)  # (BLOCK_N, BLOCK_D)
    acc = acc * alpha[:, None]
    if IS_FP32:
        acc = tl.dot(p, v, acc, input_precision="ieee")
    else:
        p = p.to(v.dtype)
        acc = tl.dot(p, v, acc)
    l_i = l_i * alpha + tl.sum(p.to(tl.float32), 1)
    return acc, m_new, l_i


def _configs():
    if INTERPRET:  # one small config: autotuning in the interpreter costs minutes
        return [triton.Config({"BLOCK_M": 32, "BLOCK_N": 32}, num_warps=4, num_stages=1)]
    return [
        triton.Config({"BLOCK_M": m, "BLOCK_N": n}, num_warps=w, num_stages=s)
        for m in (64, 128)
        for n in (32, 64, 128)
        for w in (4, 8)
        for s in (2, 3)
        if n <= m and (w == 4 or m == 128)
    ]


def tile_bytes(config: triton.Config, block_d: int, element_size: int, score_tiles: int = 0,
               mask_size: int = 0) -> int:
    """Shared memory of one program, an upper bound: Q's block, a K and a V block for each pipeline stage, a row of
    the key mask (`mask_size` bytes a key) for each stage, and `score_tiles` float32 (BLOCK_M, BLOCK_N) tiles of
    scratch for the layout conversions of gathers (1 for the relative bias). Compiled for sm_90 the unmasked modes
    allocate exactly the blocks; tests/kernels/compile_for_gpu.py checks every mode's largest tile against it."""
    m, n, stages = config.kwargs["BLOCK_M"], config.kwargs["BLOCK_N"], config.num_stages
    return element_size * block_d * (m + 2 * stages * n) + stages * n * mask_size + score_tiles * m * n * 4


def prune_attention_tiles(configs, args: dict, score_tiles: int, fp32_tile: tuple = (64, 32, 4)) -> list:
    """An attention kernel's early_config_prune on its launch arguments: drop configs whose blocks overshoot a short
    sequence or whose `tile_bytes` (with `score_tiles` of scratch and the key mask's row) exceed the GPU's shared
    memory (large head dimensions). fp32 inputs (a test and debugging path: ieee dot products, four-byte tiles) get
    only `fp32_tile`, (BLOCK_M, BLOCK_N, num_warps), which compiles in seconds rather than a minute."""
    q, seq_bucket = args["Q"], args["SEQ_BUCKET"]
    mask_size = args["Mask"].element_size() if args["HAS_MASK"] else 0
    kept = [
        c for c in configs
        if c.kwargs["BLOCK_M"] <= max(seq_bucket, 64) and c.kwargs["BLOCK_N"] <= max(seq_bucket, 32)
        and not (q.dtype == torch.float32 and (c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.num_warps) != fp32_tile)
    ] or configs[:1]
    return configs_that_fit(kept, lambda c: tile_bytes(c, args["BLOCK_D"], q.element_size(), score_tiles, mask_size),
                            shared_memory_limit(q))


def _prune(configs, named_args, **kwargs):
    args = {**named_args, **kwargs}
    return prune_attention_tiles(configs, args, score_tiles=1 if args["HAS_REL_BIAS"] else 0)


@from_table  # a committed winner per key where fastenc/kernels/tuned_tables/ has this GPU's table
@triton.autotune(
    configs=_configs(),
    key=["SEQ_BUCKET", "BLOCK_D", "VARLEN", "HAS_MASK", "HAS_WINDOW", "HAS_REL_BIAS"],
    prune_configs_by={"early_config_prune": _prune},
    cache_results=True,
)
@triton.jit
def _attention_kernel(
    Q, K, V,  # (B, T, nh, hd) padded or (N, nh, hd) packed; any strides, last dimension contiguous
    Out,  # same layout as Q, contiguous
    Mask,  # (B, T) key padding, nonzero = attend; read only if HAS_MASK
    CuSeqlens,  # (B + 1,) int32 offsets of each sequence in the packed tokens; read only if VARLEN
    RelBias,  # (nh, 2 * rel_radius + 1) relative position bias by distance, any float dtype; read if HAS_REL_BIAS
    stride_qb, stride_qt, stride_qh,  # Q strides in elements (batch stride 0 when VARLEN)
    stride_kb, stride_kt, stride_kh,  # K strides
    stride_vb, stride_vt, stride_vh,  # V strides
    stride_ob, stride_ot, stride_oh,  # Out strides
    stride_mb, stride_mt,  # Mask strides
    stride_rh, stride_rd,  # RelBias strides (head, distance)
    num_heads,  # nh
    seqlen,  # T, or max_seqlen when VARLEN: the number of query blocks is cdiv(seqlen, BLOCK_M)
    head_dim,  # hd <= BLOCK_D
    qk_scale,  # softmax_scale * log2(e), so the softmax runs on exp2
    window,  # HAS_WINDOW: a query attends only to keys at most this many positions away
    rel_radius,  # HAS_REL_BIAS: RelBias column rel_radius + d holds distance d; farther ones share the ends
    SEQ_BUCKET,  # next power of two >= seqlen; an autotune key only
    VARLEN: tl.constexpr,  # packed sequences bounded by CuSeqlens
    HAS_MASK: tl.constexpr,  # apply the key padding mask
    HAS_WINDOW: tl.constexpr,  # sliding-window attention: |query - key| <= window
    HAS_REL_BIAS: tl.constexpr,  # add RelBias at each key - query distance
    IS_FP32: tl.constexpr,  # fp32 inputs: full-precision dot products (no tf32)
    BLOCK_D: tl.constexpr,  # next power of two >= head_dim (at least 16 for tl.dot)
    EVEN_D: tl.constexpr,  # head_dim == BLOCK_D: no head-dimension bounds check
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

    # 64-bit base offsets; in-tile offsets stay small.
    row0 = (start + m0).to(tl.int64)  # this block's first query, counted in tokens of Q's layout
    q_ptrs = Q + b * stride_qb + h * stride_qh + row0 * stride_qt
    q_ptrs = q_ptrs + offs_m[:, None] * stride_qt + offs_d[None, :]  # (BLOCK_M, BLOCK_D)
    q = load_tile(q_ptrs, m_ok, d_ok, True, not EVEN_D)
    # Keys this query block can see: all of the sequence, or the window around its rows.
    lo = 0
    hi = length
    if HAS_WINDOW:
        lo = tl.maximum(m0 - window, 0)
        hi = tl.minimum(m0 + BLOCK_M + window, length)
    k_ptrs = K + b * stride_kb + h * stride_kh + (start + lo) * stride_kt
    k_ptrs = k_ptrs + offs_n[None, :] * stride_kt + offs_d[:, None]  # (BLOCK_D, BLOCK_N): K transposed
    v_ptrs = V + b * stride_vb + h * stride_vh + (start + lo) * stride_vt
    v_ptrs = v_ptrs + offs_n[:, None] * stride_vt + offs_d[None, :]  # (BLOCK_N, BLOCK_D)
    mask_ptrs = Mask + b * stride_mb + (lo + offs_n) * stride_mt  # (BLOCK_N,)

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)  # running max of the scores (log2 domain)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)  # running sum of exp2(score - m_i)
    acc = tl.zeros([BLOCK_M, BLOCK_D], dtype=tl.float32)  # running sum of weights @ V
    # Whole key blocks first, with no bounds check; then the partial last block, if any, with one.
    full_end = lo + (hi - lo) // BLOCK_N * BLOCK_N
    for n0 in range(lo, full_end, BLOCK_N):
        acc, m_i, l_i = _attend_key_block(
            acc, m_i, l_i, q, k_ptrs, v_ptrs, mask_ptrs, n0, hi, m0, h, d_ok, qk_scale, window, RelBias, stride_rh,
            stride_rd, rel_radius, HAS_MASK, HAS_WINDOW, HAS_REL_BIAS, IS_FP32, EVEN_D, False, BLOCK_M, BLOCK_N)
        k_ptrs += BLOCK_N * stride_kt
        v_ptrs += BLOCK_N * stride_vt
        mask_ptrs += BLOCK_N * stride_mt
    if full_end < hi:
        acc, m_i, l_i = _attend_key_block(
            acc, m_i, l_i, q, k_ptrs, v_ptrs, mask_ptrs, full_end, hi, m0, h, d_ok, qk_scale, window, RelBias,
            stride_rh, stride_rd, rel_radius, HAS_MASK, HAS_WINDOW, HAS_REL_BIAS, IS_FP32, EVEN_D, True, BLOCK_M,
            BLOCK_N)

    if HAS_WINDOW:  # rows past the end of a sequence may have seen no key: keep them finite (they are not stored)
        l_i = tl.where(l_i == 0.0, 1.0, l_i)
    out = acc / l_i[:, None]
    o_ptrs = Out + b * stride_ob + h * stride_oh + row0 * stride_ot
    o_ptrs = o_ptrs + offs_m[:, None] * stride_ot + offs_d[None, :]
    tl.store(o_ptrs, out.to(Out.dtype.element_ty), mask=m_ok[:, None] & d_ok[None, :])


@kernel_op("attention")
def _attention_op(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    key_padding_mask: Optional[torch.Tensor],
    cu_seqlens: Optional[torch.Tensor],
    max_seqlen: int,
    softmax_scale: float,
    window: int = -1,
    rel_by_distance: Optional[torch.Tensor] = None,
    rel_radius: int = 0,
) -> torch.Tensor:
    out = torch.empty(q.shape, dtype=q.dtype, device=q.device)
    varlen = cu_seqlens is not None
    if varlen:
        num_seqs, seqlen = cu_seqlens.shape[0] - 1, max_seqlen
        (stride_q, stride_k, stride_v, stride_o) = ((0, *t.stride()[:2]) for t in (q, k, v, out))
    else:
        num_seqs, seqlen = q.shape[0], q.shape[1]
        (stride_q, stride_k, stride_v, stride_o) = (t.stride()[:3] for t in (q, k, v, out))
    num_heads, head_dim = q.shape[-2], q.shape[-1]
    if out.numel() == 0 or seqlen == 0:
        return out
    has_mask = key_padding_mask is not None
    stride_m = key_padding_mask.stride() if has_mask else (0, 0)
    has_rel = rel_by_distance is not None
    stride_r = rel_by_distance.stride() if has_rel else (0, 0)

    block_d = max(16, triton.next_power_of_2(head_dim))

    def grid(meta):
        return (triton.cdiv(seqlen, meta["BLOCK_M"]) * num_seqs * num_heads,)

    _attention_kernel[grid](
        q, k, v, out,
        key_padding_mask if has_mask else q,  # a placeholder pointer, never read
        cu_seqlens if varlen else q,
        rel_by_distance if has_rel else q,
        *stride_q, *stride_k, *stride_v, *stride_o, *stride_m, *stride_r,
        num_heads, seqlen, head_dim, softmax_scale * LOG2E, max(window, 0), rel_radius,
        triton.next_power_of_2(seqlen),
        VARLEN=varlen, HAS_MASK=has_mask, HAS_WINDOW=window >= 0, HAS_REL_BIAS=has_rel,
        IS_FP32=q.dtype == torch.float32,
        BLOCK_D=block_d, EVEN_D=block_d == head_dim,
    )
    return out


@_attention_op.register_fake
def _(q, k, v, key_padding_mask, cu_seqlens, max_seqlen, softmax_scale, window=-1, rel_by_distance=None,
      rel_radius=0):
    return q.new_empty(q.shape)


def _check(q, k, v, key_padding_mask, cu_seqlens, max_seqlen, window=None, position_bias=None):
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 0):
        raise ValueError(f"window must be None or an int >= 0, got {window!r}")
    if position_bias is not None:
        _check_position_bias(position_bias, q)
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_device(name, t, like=q)
        check_dtype(name, t, FLOAT_DTYPES)
        check_last_dim_contiguous(name, t)
    if k.dtype != q.dtype or v.dtype != q.dtype:
        raise TypeError(f"q, k, v must share one dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    layout = "(total_tokens, heads, head_dim)" if cu_seqlens is not None else "(batch, seqlen, heads, head_dim)"
    if q.dim() != (3 if cu_seqlens is not None else 4):
        raise ValueError(f"q has shape {tuple(q.shape)}; expected {layout}")
    if k.shape != q.shape or v.shape != q.shape:
        raise ValueError(f"q, k, v must share one shape {layout}, got {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if q.shape[-1] > 128:
        raise ValueError(f"head_dim {q.shape[-1]} is above the supported 128")
    if cu_seqlens is not None:
        if key_padding_mask is not None:
            raise ValueError("key_padding_mask is for padded inputs; variable-length inputs need none")
        check_device("cu_seqlens", cu_seqlens, like=q)
        check_dtype("cu_seqlens", cu_seqlens, (torch.int32,))
        check_shape("cu_seqlens", cu_seqlens, (None,))
        if cu_seqlens.shape[0] < 1:
            raise ValueError("cu_seqlens needs at least one entry (batch + 1 offsets)")
        if max_seqlen is not None and max_seqlen < 0:
            raise ValueError(f"max_seqlen must be >= 0, got {max_seqlen}")
    elif key_padding_mask is not None:
        check_device("key_padding_mask", key_padding_mask, like=q)
        check_shape("key_padding_mask", key_padding_mask, tuple(q.shape[:2]))
        if key_padding_mask.is_complex():
            raise TypeError(f"key_padding_mask has dtype {key_padding_mask.dtype}; expected bool, int or float")


def _check_position_bias(position_bias, q) -> None:
    table = getattr(position_bias, "table", None)
    if not isinstance(table, torch.Tensor):
        raise TypeError(f"position_bias must be a fastenc.ops.relative_bias.RelativeBias, got "
                        f"{type(position_bias).__name__}")
    check_device("position_bias.table", table, like=q)
    check_dtype("position_bias.table", table, FLOAT_DTYPES)
    num_buckets = position_bias.num_buckets
    if table.dim() != 2 or table.shape[1] != q.shape[-2] or table.shape[0] < num_buckets:
        raise ValueError(f"position_bias.table has shape {tuple(table.shape)}; expected (rows >= num_buckets "
                         f"{num_buckets}, heads {q.shape[-2]})")
    if num_buckets < 4 or num_buckets % 2 or position_bias.max_distance < 1:
        raise ValueError(f"position_bias needs an even num_buckets >= 4 and max_distance >= 1, got "
                         f"{num_buckets}, {position_bias.max_distance}")
    by_distance = position_bias.by_distance  # a ValueError where the buckets never settle
    if by_distance.shape != (q.shape[-2], 2 * position_bias.radius + 1):
        raise ValueError(f"position_bias.by_distance has shape {tuple(by_distance.shape)}; expected "
                         f"(heads {q.shape[-2]}, 2 * radius + 1 = {2 * position_bias.radius + 1})")


def attention(q, k, v, *, key_padding_mask=None, cu_seqlens=None, max_seqlen=None, softmax_scale=None, window=None,
              position_bias=None, check: bool = True):
    """Bidirectional (non-causal) attention, padded or variable-length; the contract of `ops.reference.attention`.

    Padded: q, k, v (B, T, nh, hd), strided views welcome (e.g. slices of a fused QKV output); key_padding_mask (B, T)
    with nonzero = attend. Variable-length: q, k, v (N, nh, hd) packed back to back; cu_seqlens (B + 1,) int32;
    max_seqlen at least the longest sequence (not checked, which would need a host sync; computed from cu_seqlens,
    with a sync, when None). window: None for all keys, w >= 0 for keys at most w positions away (key blocks outside
    every query's window are skipped). position_bias: None, or a RelativeBias (fastenc.ops.relative_bias) whose table
    entry at the bucket of each key - query distance is added to the scaled scores; the kernel reads its bias by
    distance, (nh, 2 * radius + 1), so no T x T bias exists. Returns a contiguous tensor of q's shape and dtype;
    softmax in float32. The first call per (sequence-length bucket, head_dim, mode, dtype) autotunes on a GPU: make
    it before capturing a CUDA graph.
    `check=False` skips the argument checks, for callers (the model) that validated their inputs once per forward.
    """
    if check:
        _check(q, k, v, key_padding_mask, cu_seqlens, max_seqlen, window, position_bias)
    if softmax_scale is None:
        softmax_scale = 1.0 / math.sqrt(q.shape[-1])
    if cu_seqlens is not None and max_seqlen is None:
        max_seqlen = int((cu_seqlens[1:] - cu_seqlens[:-1]).max()) if cu_seqlens.shape[0] > 1 else 0
    rel = {}
    if position_bias is not None:
        rel = dict(rel_by_distance=position_bias.by_distance, rel_radius=position_bias.radius)
    return _attention_op(q, k, v, key_padding_mask, cu_seqlens, int(max_seqlen or 0), float(softmax_scale),
                         -1 if window is None else int(window), **rel)

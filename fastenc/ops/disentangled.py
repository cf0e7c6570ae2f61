"""PyTorch reference for DeBERTa's disentangled attention: the CPU path, and the oracle of the Triton kernel.

Scores are content-to-content q.k plus, as pos_att_type asks, content-to-position q_i . pos_key[c(i - j)] (c2p) and
position-to-content k_j . pos_query[p(i - j)] (p2c), all scaled by one softmax_scale (1 / sqrt(head_dim * terms)).
c and p map a query-key distance to a row of the 2 * span relative embedding rows: log-bucketed (position_buckets)
or clamped (max_relative_positions), as transformers' `make_log_bucket_position` computes. Both index maps are one
(2, 2T - 1) table per forward (`relative_index`), so the kernel reads exactly the buckets this module computes.
"""
import functools

import torch

from .reference import _attention_varlen

_MASKED = torch.finfo(torch.float32).min  # what a padded key scores, as transformers and the attention reference use


def log_bucket_position(relative: torch.Tensor, bucket_size: int, max_position: int) -> torch.Tensor:
    """transformers' log buckets of signed distances: exact below bucket_size // 2, then logarithmic up to
    max_position. Computed the same way (float32 log, ceil) so every boundary falls where it falls there."""
    sign = torch.sign(relative)
    mid = bucket_size // 2
    near = (relative < mid) & (relative > -mid)
    # A Python scalar, not a CPU tensor: moving one to the GPU in every forward would make the host wait.
    abs_pos = torch.where(near, mid - 1, relative.abs())
    # The divisor's log in float32 on the host, as transformers takes it: a CPU scalar, which any device's op reads
    # without a copy.
    log_top = torch.log(torch.tensor((max_position - 1) / mid, device="cpu"))
    log_pos = torch.ceil(torch.log(abs_pos / mid) / log_top * (mid - 1)) + mid
    return torch.where(abs_pos <= mid, relative.type_as(log_pos), log_pos * sign).long()


def bucketed_distance(relative: torch.Tensor, position_buckets: int, max_relative_positions: int) -> torch.Tensor:
    """Signed query-minus-key distances as the relative attention sees them (bucketed when buckets are configured)."""
    if position_buckets > 0 and max_relative_positions > 0:
        return log_bucket_position(relative, position_buckets, max_relative_positions)
    return relative


def relative_index(max_seqlen: int, span: int, position_buckets: int, max_relative_positions: int,
                   device=None) -> torch.Tensor:
    """(2, 2T - 1) int32: for a query-minus-key distance d in [-(T - 1), T - 1], column d + T - 1 holds the row of the
    (2 * span)-row position projections that c2p (row 0) and p2c (row 1) read, clamped to the table."""
    T = max(int(max_seqlen), 1)
    d = torch.arange(-(T - 1), T, device=device)  # (2T - 1,)
    c2p = bucketed_distance(d, position_buckets, max_relative_positions) + span
    # p2c reads the key-to-query distance j - i, negated (transformers gathers k_j . pos_query at -r(j, i) + span).
    p2c = -bucketed_distance(-d, position_buckets, max_relative_positions) + span
    return torch.stack([c2p, p2c]).clamp(0, 2 * span - 1).to(torch.int32)


def _gather_scores(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """table (b, nh, L, 2S) of dot products with every position row, index (Lq, Lk) -> (b, nh, Lq, Lk)."""
    b, nh = table.shape[:2]
    return table.gather(-1, index.long()[None, None].expand(b, nh, *index.shape))  # widened once, then a view


def disentangled_probs(q, k, pos_key, pos_query, relative_index, key_padding_mask=None, softmax_scale=None):
    """The attention weights, (B, nh, Tq, T) in float32 (float64 for float64 inputs).

    q (B, Tq, nh, hd) against k (B, T, nh, hd), Tq <= T (queries are the first Tq positions); pos_key, pos_query
    (2S, nh, hd) projections of the relative embeddings, or None where that term is off; relative_index from
    `relative_index` for a length >= T; key_padding_mask (B, T), nonzero = attend.
    """
    Tq, T, hd = q.shape[1], k.shape[1], q.shape[-1]
    scale = softmax_scale if softmax_scale is not None else hd**-0.5
    wide = torch.promote_types(q.dtype, torch.float32)  # float32 statistics; float64 stays float64 (the oracle)
    qh, kh = (t.transpose(1, 2).to(wide) for t in (q, k))  # (B, nh, T, hd)
    scores = qh @ kh.transpose(-1, -2)  # (B, nh, Tq, T) content to content
    center = (relative_index.shape[1] - 1) // 2  # column of distance 0
    d = torch.arange(Tq, device=q.device)[:, None] - torch.arange(T, device=q.device)[None, :]  # (Tq, T): i - j
    if pos_key is not None:  # c2p: query i against the position row of distance i - j
        c2p = qh @ pos_key.to(wide).permute(1, 2, 0)  # (B, nh, Tq, 2S)
        scores = scores + _gather_scores(c2p, relative_index[0][d + center])
    if pos_query is not None:  # p2c: key j against the position row of distance i - j
        p2c = kh @ pos_query.to(wide).permute(1, 2, 0)  # (B, nh, T, 2S)
        rows = p2c.shape[-1]
        # Entry (i, j) is p2c[j, p(i - j)]: one gather from the flattened (T * 2S) table straight into the (Tq, T)
        # layout of the scores (a gather along the rows, then a transpose, would add a strided copy).
        flat = torch.arange(T, device=q.device)[None, :] * rows + relative_index[1][d + center].long()  # (Tq, T)
        scores = scores + _gather_scores(p2c.flatten(-2)[:, :, None, :], flat.view(1, -1)).view(scores.shape)
    scores = scores * scale
    if key_padding_mask is not None:
        keep = key_padding_mask.to(torch.bool)[:, None, None, :]  # (B, 1, 1, T)
        scores = scores.masked_fill(~keep, _MASKED)
    return scores.softmax(dim=-1)


def _padded(q, k, v, key_padding_mask, softmax_scale, *, pos_key, pos_query, relative_index):
    """(B, Tq, nh, hd) outputs; the argument order of fastenc.ops.reference's padded attention, which its
    length-bucketed varlen loop calls."""
    probs = disentangled_probs(q, k, pos_key, pos_query, relative_index, key_padding_mask, softmax_scale)
    out = probs @ v.transpose(1, 2).to(probs.dtype)  # (B, nh, Tq, hd)
    return out.transpose(1, 2).to(q.dtype)  # (B, Tq, nh, hd)


def disentangled_attention(q, k, v, pos_key, pos_query, *, relative_index, key_padding_mask=None, cu_seqlens=None,
                           max_seqlen=None, softmax_scale=None):
    """Disentangled attention, padded or variable-length, with the same contract as fastenc.ops.reference.attention
    plus the position projections (pos_key for c2p, pos_query for p2c: (2S, nh, hd) or None) and relative_index.

    Padded: q, k, v (B, T, nh, hd), key_padding_mask (B, T); positions are the padded columns 0..T-1.
    Variable-length: q, k, v (N, nh, hd), cu_seqlens (B + 1,) int32; positions restart at 0 in every sequence.
    The T x T scores exist here, per length bucket: this is the readable path; the kernel never forms them.
    """
    padded = functools.partial(_padded, pos_key=pos_key, pos_query=pos_query, relative_index=relative_index)
    if cu_seqlens is not None:
        return _attention_varlen(q, k, v, cu_seqlens, max_seqlen, softmax_scale, padded=padded)
    return padded(q, k, v, key_padding_mask, softmax_scale)


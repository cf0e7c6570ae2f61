"""PyTorch reference for every fused operation: the CPU path runs these, and every Triton kernel is tested against them.

Written for clarity first. Statistics (softmax, LayerNorm) are computed in float32 whatever the input dtype, which is
what the kernels do too, so a low-precision input gets the same treatment on both sides.
"""

import threading

import torch
import torch.nn.functional as F


def _tanh_gelu(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


def _quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


def _gelu_fast(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


# `hidden_act` values that occur in BERT-family config.json files, mapped to what transformers computes for them.
ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_python": F.gelu,
    "gelu_new": _tanh_gelu,
    "gelu_pytorch_tanh": _tanh_gelu,
    "gelu_fast": _gelu_fast,
    "quick_gelu": _quick_gelu,
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "mish": F.mish,
}

# Activations that `bias_gelu` computes, by the name of its `approximate` argument.
GELU_APPROXIMATIONS = {"gelu": "none", "gelu_python": "none", "gelu_new": "tanh", "gelu_pytorch_tanh": "tanh"}


def activation(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"unsupported activation {name!r}; supported: {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def layer_norm(x, weight, bias, eps: float, residual=None):
    """LayerNorm over the last dimension of `x + residual`, statistics in float32, result in x's dtype."""
    if residual is not None:
        x = x + residual
    if weight.dtype == x.dtype and (bias is None or bias.dtype == x.dtype):
        # PyTorch's LayerNorm already computes in float32 for bf16/fp16 inputs (CPU and CUDA) and rounds once at
        # the end: the same result as the casts below, without two extra passes over x (7% of a bf16 CPU job).
        return F.layer_norm(x, x.shape[-1:], weight, bias, eps)
    bias = None if bias is None else bias.float()  # ModernBERT's norms have none
    return F.layer_norm(x.float(), x.shape[-1:], weight.float(), bias, eps).to(x.dtype)


def bias_gelu(x, bias, approximate: str = "none"):
    """gelu(x + bias), exact erf (approximate="none") or tanh (approximate="tanh")."""
    return F.gelu((x + bias).float(), approximate=approximate).to(x.dtype)


def embeddings(input_ids, position_ids, token_type_ids, word, position, token_type, ln_weight, ln_bias, eps: float):
    """word[input_ids] + token_type[token_type_ids] + position[position_ids], then LayerNorm.

    `position` and `token_type` may be None (DistilBERT has no token types; a model may have no learned positions).
    """
    x = word[input_ids]  # (..., E)
    # transformers adds token types before positions; the same order gives the same rounding.
    if token_type is not None:
        x = x + token_type[token_type_ids]
    if position is not None:
        x = x + position[position_ids]
    return layer_norm(x, ln_weight, ln_bias, eps)


def attention(q, k, v, *, key_padding_mask=None, cu_seqlens=None, max_seqlen=None, softmax_scale=None, window=None):
    """Bidirectional (non-causal) attention, padded or variable-length, over all keys or a sliding window.

    Padded: q, k, v (B, T, nh, hd); key_padding_mask (B, T) with 1 = attend, 0 = padding. Returns (B, T, nh, hd).
    Variable-length: q, k, v (N, nh, hd) packed back to back; cu_seqlens (B + 1,) int32 offsets. Returns (N, nh, hd).
    window: None attends to every key; an int w >= 0 only to keys at most w positions from the query (ModernBERT's
    local layers: |i - j| <= local_attention // 2), counted in the padded layout or within each packed sequence.
    """
    if cu_seqlens is not None:
        return _attention_varlen(q, k, v, cu_seqlens, max_seqlen, softmax_scale, window)
    return _attention_padded(q, k, v, key_padding_mask, softmax_scale, window)


def window_keep(num_queries: int, num_keys: int, window: int, device) -> torch.Tensor:
    """(Tq, T) bool: key j lies within `window` positions of query i."""
    i = torch.arange(num_queries, device=device)[:, None]
    j = torch.arange(num_keys, device=device)[None, :]
    return (i - j).abs() <= window


def _attention_padded(q, k, v, key_padding_mask, softmax_scale, window=None):
    """q (B, Tq, nh, hd) against k, v (B, T, nh, hd); key_padding_mask (B, T). Tq may be shorter than T."""
    qh, kh, vh = (t.transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hd)
    bias = None
    if key_padding_mask is not None or window is not None:
        # Additive mask with the most negative finite value, as transformers uses: a row with no valid key stays
        # finite (uniform weights) where -inf would give NaN.
        keep = torch.ones(1, 1, 1, k.shape[1], dtype=torch.bool, device=q.device)  # (1, 1, 1, T)
        if key_padding_mask is not None:
            keep = key_padding_mask.to(torch.bool)[:, None, None, :]  # (B, 1, 1, T)
        if window is not None:
            keep = keep & window_keep(q.shape[1], k.shape[1], window, q.device)  # (B, 1, Tq, T)
        bias = torch.zeros(keep.shape, dtype=q.dtype, device=q.device).masked_fill(~keep, torch.finfo(q.dtype).min)
    # PyTorch's fused attention: softmax(q k^T * scale + bias) v with float32 accumulation, no T x T matrix kept.
    out = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=bias, scale=softmax_scale)  # (B, nh, T, hd)
    return out.transpose(1, 2)  # (B, T, nh, hd)


def attention_probs(q, k, key_padding_mask=None, softmax_scale=None, window=None):
    """The attention weights themselves, (B, nh, T, T) in float32, for callers that want to look at them.

    q, k: (B, T, nh, hd). Fused attention never forms this matrix; this does, so use it only when asked.
    """
    hd = q.shape[-1]
    scale = softmax_scale if softmax_scale is not None else hd**-0.5
    qh, kh = (t.transpose(1, 2).float() for t in (q, k))  # (B, nh, T, hd)
    scores = (qh @ kh.transpose(-1, -2)) * scale  # (B, nh, T, T)
    if key_padding_mask is not None:
        keep = key_padding_mask.to(torch.bool)[:, None, None, :]  # (B, 1, 1, T)
        scores = scores.masked_fill(~keep, torch.finfo(torch.float32).min)
    if window is not None:
        outside = ~window_keep(q.shape[1], k.shape[1], window, q.device)  # (T, T)
        scores = scores.masked_fill(outside, torch.finfo(torch.float32).min)
    return scores.softmax(dim=-1)


def _attention_varlen(q, k, v, cu_seqlens, max_seqlen, softmax_scale, window=None, padded=None):
    # `padded(q, k, v, key_padding_mask, softmax_scale)` is the padded attention run per bucket: by default this
    # module's, with ModernBERT's sliding `window`; DeBERTa's disentangled attention passes its own. Plain attention
    # (neither) takes the bucket's precomputed additive mask straight into SDPA.
    custom = padded is not None or window is not None
    if padded is None:
        def padded(q, k, v, key_padding_mask, softmax_scale):
            return _attention_padded(q, k, v, key_padding_mask, softmax_scale, window)
    # Sequences of similar length share a bucket; each bucket is one fused call whose queries are only as long as the
    # bucket's longest sequence, so padded queries cost little. Keys keep the layout of a batch padded to max_seqlen
    # (the rest masked): the key-side reduction then rounds as in the padded path, which keeps this path within a
    # few ulps of transformers' padded batch (bit-identical on MiniLM) where shorter keys drift by ~1e-5.
    if cu_seqlens.shape[0] == 2:  # one sequence: nothing to bucket or mask
        return padded(q[None], k[None], v[None], None, softmax_scale)[0]
    plan = _varlen_plan(cu_seqlens, max_seqlen, q.dtype)
    N, nh, hd = q.shape
    B, S = plan.slots.shape
    # One row gather into the padded layout, longest sequence first: (B, S, nh, hd) each. Each bucket is then a
    # contiguous block of rows, read as views.
    qp, kp, vp = _gather_rows(q, k, v, plan.slots.view(-1), (B, S, nh, hd))
    out = q.new_empty(B, S, nh, hd)
    for start, end, Sq, bias in plan.buckets:
        if custom:  # a window or another attention: its padded function on the bucket's rows and key mask
            out[start:end, :Sq] = padded(qp[start:end, :Sq], kp[start:end], vp[start:end], plan.keep[start:end],
                                         softmax_scale)  # (b, Sq, nh, hd)
            continue
        qb = qp[start:end, :Sq].transpose(1, 2)  # (b, nh, Sq, hd)
        kb, vb = kp[start:end].transpose(1, 2), vp[start:end].transpose(1, 2)  # (b, nh, S, hd)
        result = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=bias, scale=softmax_scale)  # (b, nh, Sq, hd)
        out[start:end, :Sq] = result.transpose(1, 2)
    return out.view(B * S, nh, hd).index_select(0, plan.tokens)  # (N, nh, hd): back to the packed order


def _gather_rows(q, k, v, rows, shape):
    """q, k, v (N, nh, hd) gathered at `rows` into `shape` each. When they are the three views of one fused (N, 3H)
    QKV product (what the layers pass), that product is gathered once, whole rows at a time; else one gather each."""
    N, nh, hd = q.shape
    H, size = nh * hd, q.element_size()
    fused = (q.stride() == k.stride() == v.stride() == (3 * H, hd, 1) and q.dtype == k.dtype == v.dtype
             and k.data_ptr() - q.data_ptr() == H * size and v.data_ptr() - k.data_ptr() == H * size)
    if fused:
        qkv = q.as_strided((N, 3 * H), (3 * H, 1))  # the (N, 3H) product the three views come from
        picked = qkv.index_select(0, rows).view(*shape[:2], 3, nh, hd)  # (B, S, 3, nh, hd)
        return picked.unbind(2)
    return tuple(t.reshape(N, H).index_select(0, rows).view(shape) for t in (q, k, v))


class _VarlenPlan:
    """Where each packed token sits in the length-sorted padded layout, and the buckets over it; made once per batch
    (every layer reuses it), not once per layer."""

    def __init__(self, cu_seqlens, max_seqlen, dtype):
        device = cu_seqlens.device
        # The lengths are read on the host: free on the CPU, a sync where this reference runs on a GPU (the CUDA path
        # is the Triton kernel, which needs none).
        lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).tolist()
        S = int(max_seqlen) if max_seqlen is not None else max(lengths, default=0)
        S = max(S, 1)
        buckets = _length_buckets(lengths)
        order = [i for bucket in buckets for i in bucket]  # sequences longest first (empty ones dropped)
        starts = cu_seqlens[:-1].long()[torch.tensor(order, dtype=torch.long, device=device)]  # (B',)
        lens = torch.tensor([lengths[i] for i in order], dtype=torch.long, device=device)  # (B',)
        pos = torch.arange(S, device=device)  # (S,)
        keep = pos[None, :] < lens[:, None]  # (B', S)
        self.keep = keep  # (B', S) real key slots, for padded attention functions that take a key mask
        # (B', S) packed row of each slot; padding slots read some real row (masked out, never returned).
        n_tokens = int(cu_seqlens[-1])
        self.slots = (starts[:, None] + pos[None, :]).clamp(max=max(n_tokens - 1, 0))
        # (N,) slot of each packed token, in packed order: slot numbers of the kept slots, sorted by their token.
        slot_ids = torch.arange(len(order) * S, device=device).view(len(order), S)
        self.tokens = torch.empty(n_tokens, dtype=torch.long, device=device)
        self.tokens[self.slots[keep]] = slot_ids[keep]
        self.buckets = []
        row = 0
        for bucket in buckets:
            b, Sq = len(bucket), lengths[bucket[0]]
            bias = None
            if not bool(keep[row:row + b].all()):
                # Additive mask with the most negative finite value, as in the padded path.
                bias = torch.zeros(b, 1, 1, S, dtype=dtype, device=device).masked_fill(
                    ~keep[row:row + b, None, None, :], torch.finfo(dtype).min)  # (b, 1, 1, S)
            self.buckets.append((row, row + b, Sq, bias))
            row += b


_plans = threading.local()  # per thread: (cu_seqlens, dtype, plan) of the batch now running, so concurrent models
# never share one; holding cu_seqlens keeps its identity unique while the entry lives.


def _varlen_plan(cu_seqlens, max_seqlen, dtype) -> _VarlenPlan:
    entry = getattr(_plans, "last", None)
    if entry is None or entry[0] is not cu_seqlens or entry[1] != dtype:
        entry = (cu_seqlens, dtype, _VarlenPlan(cu_seqlens, max_seqlen, dtype))
        _plans.last = entry
    return entry[2]


def _length_buckets(lengths, waste: float = 0.25):
    """Sequence indices grouped longest first, a new group whenever padding to the group's longest would waste more
    than `waste` of a sequence's slots."""
    order = sorted((i for i, n in enumerate(lengths) if n > 0), key=lambda i: -lengths[i])
    buckets = []
    for i in order:
        if buckets and lengths[i] >= (1 - waste) * lengths[buckets[-1][0]]:
            buckets[-1].append(i)
        else:
            buckets.append([i])
    return buckets


def rope_qkv(qkv, cos, sin):
    """Split a fused QKV projection and rotate Q and K by their tokens' RoPE angles (rotate-half convention).

    qkv (*lead, 3, nh, hd); cos, sin (*lead, hd // 2) float32, one row per token. Returns q, k (*lead, nh, hd)
    contiguous in qkv's dtype, rotated in float32 as transformers does, and v, a view of qkv.
    """
    q, k, v = qkv.unbind(-3)  # each (*lead, nh, hd)
    c, s = cos.unsqueeze(-2), sin.unsqueeze(-2)  # (*lead, 1, hd / 2)

    def rotate(x):
        x1, x2 = x.float().chunk(2, dim=-1)  # (*lead, nh, hd / 2) each
        return torch.cat((x1 * c - x2 * s, x2 * c + x1 * s), dim=-1).to(x.dtype)

    return rotate(q), rotate(k), v


def geglu(x, approximate: str = "none"):
    """GeGLU: gelu(x[..., :I]) * x[..., I:] for x (..., 2I), exact (erf) or tanh GELU, in float32."""
    value, gate = x.float().chunk(2, dim=-1)  # (..., I) each
    return (F.gelu(value, approximate=approximate) * gate).to(x.dtype)

"""PyTorch reference for every fused operation: the CPU path runs these, and every Triton kernel is tested against them.

Written for clarity first. Statistics (softmax, LayerNorm) are computed in float32 whatever the input dtype, which is
what the kernels do too, so a low-precision input gets the same treatment on both sides.
"""

import threading

import torch
import torch.nn.functional as F

from .relative_bias import RelativeBias, dense_bias


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
# `hidden_act` values that `glu` (and the kernel of the same name) computes as the gate of a gated MLP.
GLU_ACTIVATIONS = {"gelu": "gelu", "gelu_python": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh",
                   "silu": "silu", "swish": "silu"}


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


def linear_gelu(x, weight, bias, approximate: str = "none"):
    """gelu(x @ weight.T + bias): the product without its bias, then `bias_gelu`, as the layer composed them before the
    Triton backend fused them into one kernel; the CPU and torch paths keep this composition's numerics."""
    return bias_gelu(F.linear(x, weight), bias, approximate)


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


def attention(q, k, v, *, key_padding_mask=None, cu_seqlens=None, max_seqlen=None, softmax_scale=None, window=None,
              position_bias: RelativeBias | None = None):
    """Bidirectional (non-causal) attention, padded or variable-length, over all keys or a sliding window.

    Padded: q, k, v (B, T, nh, hd); key_padding_mask (B, T) with 1 = attend, 0 = padding. Returns (B, T, nh, hd).
    Variable-length: q, k, v (N, nh, hd) packed back to back; cu_seqlens (B + 1,) int32 offsets. Returns (N, nh, hd).
    window: None attends to every key; an int w >= 0 only to keys at most w positions from the query (ModernBERT's
    local layers: |i - j| <= local_attention // 2), counted in the padded layout or within each packed sequence.
    position_bias: None, or MPNet's relative position bias (fastenc.ops.relative_bias), added to the scaled scores
    at the bucket of each key - query distance (counted as the window is).
    """
    if cu_seqlens is not None:
        return _attention_varlen(q, k, v, cu_seqlens, max_seqlen, softmax_scale, window, position_bias=position_bias)
    return _attention_padded(q, k, v, key_padding_mask, softmax_scale, window, position_bias)


def window_keep(num_queries: int, num_keys: int, window: int, device) -> torch.Tensor:
    """(Tq, T) bool: key j lies within `window` positions of query i."""
    i = torch.arange(num_queries, device=device)[:, None]
    j = torch.arange(num_keys, device=device)[None, :]
    return (i - j).abs() <= window


def _attention_padded(q, k, v, key_padding_mask, softmax_scale, window=None, position_bias=None, relative=None):
    """q (B, Tq, nh, hd) against k, v (B, T, nh, hd); key_padding_mask (B, T). Tq may be shorter than T.
    `relative`: position_bias as a dense (nh, >= Tq, >= T) tensor already (the varlen path makes it once per batch)."""
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
    if position_bias is not None and relative is None:
        relative = dense_bias(position_bias, q.shape[1], k.shape[1], q.dtype)  # (nh, Tq, T)
    if relative is not None:
        # transformers adds the position bias, then the mask: a masked key's score stays the most negative value.
        relative = relative[None, :, :q.shape[1], :k.shape[1]]  # (1, nh, Tq, T)
        bias = relative if bias is None else relative + bias  # (B or 1, nh, Tq, T)
    # PyTorch's fused attention: softmax(q k^T * scale + bias) v with float32 accumulation, no T x T matrix kept.
    out = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=bias, scale=softmax_scale)  # (B, nh, T, hd)
    return out.transpose(1, 2)  # (B, T, nh, hd)


def attention_probs(q, k, key_padding_mask=None, softmax_scale=None, window=None, position_bias=None):
    """The attention weights themselves, (B, nh, T, T) in float32, for callers that want to look at them.

    q, k: (B, T, nh, hd). Fused attention never forms this matrix; this does, so use it only when asked.
    """
    hd = q.shape[-1]
    scale = softmax_scale if softmax_scale is not None else hd**-0.5
    qh, kh = (t.transpose(1, 2).float() for t in (q, k))  # (B, nh, T, hd)
    scores = (qh @ kh.transpose(-1, -2)) * scale  # (B, nh, T, T)
    if position_bias is not None:
        scores = scores + dense_bias(position_bias, q.shape[1], k.shape[1], torch.float32)[None]  # (1, nh, T, T)
    if key_padding_mask is not None:
        keep = key_padding_mask.to(torch.bool)[:, None, None, :]  # (B, 1, 1, T)
        scores = scores.masked_fill(~keep, torch.finfo(torch.float32).min)
    if window is not None:
        outside = ~window_keep(q.shape[1], k.shape[1], window, q.device)  # (T, T)
        scores = scores.masked_fill(outside, torch.finfo(torch.float32).min)
    return scores.softmax(dim=-1)


def _attention_varlen(q, k, v, cu_seqlens, max_seqlen, softmax_scale, window=None, padded=None, position_bias=None):
    # `padded(q, k, v, key_padding_mask, softmax_scale)` is the padded attention run per bucket: by default this
    # module's, with ModernBERT's sliding `window` and MPNet's `position_bias`; DeBERTa's disentangled attention
    # passes its own. Plain attention takes the bucket's precomputed additive mask straight into SDPA, and so does
    # MPNet's (the bias and the key mask summed once per batch).
    custom = padded is not None or window is not None
    relative = None  # MPNet's position bias as a dense (nh, S, S) tensor, once the batch's plan exists (custom only)
    if padded is None:
        def padded(q, k, v, key_padding_mask, softmax_scale):
            return _attention_padded(q, k, v, key_padding_mask, softmax_scale, window, position_bias, relative)
    # Sequences of similar length share a bucket; each bucket is one fused call whose queries are only as long as the
    # bucket's longest sequence, so padded queries cost little. Keys keep the layout of a batch padded to max_seqlen
    # (the rest masked): the key-side reduction then rounds as in the padded path, which keeps this path within a
    # few ulps of transformers' padded batch (bit-identical on MiniLM) where shorter keys drift by ~1e-5.
    if cu_seqlens.shape[0] == 2:  # one sequence: nothing to bucket or mask
        if position_bias is not None:  # its dense bias still made once per batch, not once per layer
            relative = _varlen_plan(cu_seqlens, max_seqlen, q.dtype).relative_bias(position_bias, q.dtype)
        return padded(q[None], k[None], v[None], None, softmax_scale)[0]
    plan = _varlen_plan(cu_seqlens, max_seqlen, q.dtype)
    masks = [bucket[3] for bucket in plan.buckets]  # each bucket's additive key mask, None without padding
    if position_bias is not None and custom:
        relative = plan.relative_bias(position_bias, q.dtype)  # (nh, S, S): once per batch, every layer reads it
    elif position_bias is not None:
        masks = plan.relative_masks(position_bias, q.dtype)  # bias + key mask per bucket, once per batch
    N, nh, hd = q.shape
    B, S = plan.slots.shape
    # One row gather into the padded layout, longest sequence first: (B, S, nh, hd) each. Each bucket is then a
    # contiguous block of rows, read as views.
    qp, kp, vp = _gather_rows(q, k, v, plan.slots.view(-1), (B, S, nh, hd))
    out = q.new_empty(B, S, nh, hd)
    for (start, end, Sq, _), bias in zip(plan.buckets, masks):
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
        self.S = S
        self._relative = None  # (table, dtype, (nh, S, S) bias) of MPNet's position bias, made on first use
        self._relative_masks = None  # (table, dtype, [per-bucket masks]) made from it on first use

    def relative_bias(self, position_bias: RelativeBias, dtype) -> torch.Tensor:
        """(nh, S, S) dense position bias for this batch's padded layout; the table is shared by all layers, so it
        is expanded once per batch."""
        cached = self._relative
        if cached is None or cached[0] is not position_bias.table or cached[1] != dtype:
            cached = (position_bias.table, dtype, dense_bias(position_bias, self.S, self.S, dtype))
            self._relative = cached
        return cached[2]

    def relative_masks(self, position_bias: RelativeBias, dtype) -> list:
        """Per bucket, the additive mask SDPA takes: the position bias of its queries, (1, nh, Sq, S), plus the
        bucket's key mask where it has padding, (b, nh, Sq, S); made once per batch, as transformers adds one
        (B, nh, T, T) bias to every layer."""
        cached = self._relative_masks
        if cached is None or cached[0] is not position_bias.table or cached[1] != dtype:
            dense = self.relative_bias(position_bias, dtype)[None]  # (1, nh, S, S)
            masks = [dense[:, :, :Sq] if keys is None else dense[:, :, :Sq] + keys for _, _, Sq, keys in self.buckets]
            cached = (position_bias.table, dtype, masks)
            self._relative_masks = cached
        return cached[2]


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
    # Q and K rotated together, (x1 c - x2 s, x2 c + x1 s) as x * (c, c) + (x2, x1) * (-s, s): the same products and
    # sums, rounded alike (a + (-b) is a - b), with no concatenation. On the CPU, blocks of tokens small enough for the
    # temporaries to stay in cache (one pass over memory instead of several); elsewhere one block.
    lead, (nh, hd) = qkv.shape[:-3], qkv.shape[-2:]
    half = hd // 2
    rows = qkv.reshape(-1, 3, nh, hd)  # (M, 3, nh, hd), M tokens
    cos, sin = cos.reshape(-1, 1, half), sin.reshape(-1, 1, half)  # (M, 1, hd / 2)
    M = rows.shape[0]
    block = min(128, M) if qkv.device.type == "cpu" else M  # 128 tokens: 2 x 128 x H float32 temporaries in L2
    out = torch.empty((2, M, nh, hd), dtype=qkv.dtype, device=qkv.device)  # q, k
    rotated = out if qkv.dtype == torch.float32 else torch.empty((2, block, nh, hd), device=qkv.device)
    swapped = torch.empty((2, block, nh, hd), device=qkv.device)  # (x2, x1) * (-s, s)
    for i in range(0, M, block):
        n = min(block, M - i)
        x = rows[i:i + n, :2].movedim(1, 0).float()  # (2, n, nh, hd): q and k, in float32 as transformers rotates
        c, s = cos[i:i + n], sin[i:i + n]  # (n, 1, hd / 2)
        r = rotated[:, i:i + n] if rotated is out else rotated[:, :n]
        torch.mul(x, torch.cat((c, c), dim=-1), out=r)  # (x1 c, x2 c)
        torch.mul(x[..., half:], -s, out=swapped[:, :n, :, :half])
        torch.mul(x[..., :half], s, out=swapped[:, :n, :, half:])
        r += swapped[:, :n]
        if rotated is not out:
            out[:, i:i + n] = r  # rounded to qkv's dtype
    q, k = out.view(2, *lead, nh, hd).unbind(0)  # each (*lead, nh, hd), contiguous
    return q, k, qkv.select(-3, 2)


def glu(x, activation: str = "gelu"):
    """A gated activation: act(x[..., :I]) * x[..., I:] for x (..., 2I), in float32. activation: "gelu" (erf),
    "gelu_tanh" (GeGLU, ModernBERT) or "silu" (SwiGLU, NomicBERT); GLU_ACTIVATIONS maps `hidden_act` names to these."""
    value, gate = x.float().chunk(2, dim=-1)  # (..., I) each
    if activation == "silu":
        return (F.silu(value) * gate).to(x.dtype)
    return (F.gelu(value, approximate="tanh" if activation == "gelu_tanh" else "none") * gate).to(x.dtype)


def geglu(x, approximate: str = "none"):
    """GeGLU: gelu(x[..., :I]) * x[..., I:] for x (..., 2I), exact (erf) or tanh GELU, in float32."""
    return glu(x, "gelu_tanh" if approximate == "tanh" else "gelu")

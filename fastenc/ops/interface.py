"""The fused operations a forward pass calls, as one typed interface with two implementations bound by backend name.

`reference` (PyTorch, any device: the CPU path and the oracle of every kernel) and `triton` (fastenc.kernels, CUDA or
the Triton interpreter) implement the same operations with the same signatures. A model holds one `Ops` value,
chosen by `ops_for(backend)`; the Triton launchers are bound with their per-call checks off, because `validate` checks
the inputs once per forward instead of once per kernel launch of every layer.
"""
import functools
from dataclasses import dataclass
from typing import Callable, Protocol

import torch


class Attention(Protocol):
    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, key_padding_mask=None, cu_seqlens=None,
                 max_seqlen=None, softmax_scale=None, window=None, position_bias=None) -> torch.Tensor: ...


class LayerNorm(Protocol):
    def __call__(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float,
                 residual=None) -> torch.Tensor: ...


class BiasGelu(Protocol):
    def __call__(self, x: torch.Tensor, bias: torch.Tensor, approximate: str = "none") -> torch.Tensor: ...


class LinearGelu(Protocol):
    def __call__(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                 approximate: str = "none") -> torch.Tensor: ...


class Embeddings(Protocol):
    def __call__(self, input_ids, position_ids, token_type_ids, word, position, token_type, ln_weight, ln_bias,
                 eps: float) -> torch.Tensor: ...


class RopeQKV(Protocol):
    def __call__(self, qkv: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> tuple: ...


class Geglu(Protocol):
    def __call__(self, x: torch.Tensor, approximate: str = "none") -> torch.Tensor: ...


class Glu(Protocol):
    def __call__(self, x: torch.Tensor, activation: str = "gelu") -> torch.Tensor: ...


class DisentangledAttention(Protocol):
    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pos_key, pos_query, *, relative_index,
                 key_padding_mask=None, cu_seqlens=None, max_seqlen=None, softmax_scale=None) -> torch.Tensor: ...


def _no_validation(input_ids: torch.Tensor, weight: torch.Tensor, head_dim: int) -> None:
    """The reference ops run on any device and dtype PyTorch supports: nothing to check up front."""


@dataclass(frozen=True)
class Ops:
    name: str  # the backend name users pass: "torch" or "triton"
    attention: Attention  # bidirectional attention, padded (key_padding_mask) or variable-length (cu_seqlens), with
    # ModernBERT's sliding window or MPNet's relative position bias (fastenc.ops.relative_bias) where asked
    layer_norm: LayerNorm  # LayerNorm of x + residual, statistics in float32
    bias_gelu: BiasGelu  # gelu(x + bias), exact or tanh
    linear_gelu: LinearGelu  # gelu(x @ weight.T + bias), exact or tanh: the FFN's first product and its activation
    embeddings: Embeddings  # word + token type + position gather, then LayerNorm
    rope_qkv: RopeQKV  # split a fused (..., 3, nh, hd) QKV, rotating Q and K by RoPE (ModernBERT)
    geglu: Geglu  # gelu(x[..., :I]) * x[..., I:] (ModernBERT's feed-forward)
    # (input ids, the word-embedding table, head_dim): raises on what the ops cannot run; called once per forward
    validate: Callable[[torch.Tensor, torch.Tensor, int], None] = _no_validation
    # DeBERTa's attention with relative-position terms (fastenc.ops.disentangled)
    disentangled_attention: DisentangledAttention | None = None
    # act(x[..., :I]) * x[..., I:] with GeLU or SiLU (NomicBERT's SwiGLU feed-forward); geglu is its GELU case
    glu: Glu | None = None


def _reference_ops() -> Ops:
    from . import reference

    from .disentangled import disentangled_attention

    return Ops("torch", reference.attention, reference.layer_norm, reference.bias_gelu, reference.linear_gelu,
               reference.embeddings, reference.rope_qkv, reference.geglu,
               disentangled_attention=disentangled_attention, glu=reference.glu)


def _triton_ops() -> Ops:
    from .. import kernels  # imports triton: only when this backend is asked for

    unchecked = {name: functools.partial(getattr(kernels, name), check=False)
                 for name in ("attention", "layer_norm", "bias_gelu", "linear_gelu", "embeddings", "rope_qkv", "geglu",
                              "disentangled_attention", "glu")}
    return Ops("triton", validate=kernels.validate_forward, **unchecked)


_FACTORIES = {"torch": _reference_ops, "triton": _triton_ops}
BACKENDS = tuple(_FACTORIES)


@functools.cache
def ops_for(backend: str) -> Ops:
    """The operations of `backend` ("torch" or "triton")."""
    if backend not in _FACTORIES:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {backend!r}")
    return _FACTORIES[backend]()

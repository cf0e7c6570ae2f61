"""Fused Triton kernels for BERT-family encoders: one file per fused operation with its launcher.

Drop-in for `fastenc.ops.reference` (same functions, same signatures): CUDA tensors run compiled; CPU tensors run
through the Triton interpreter when TRITON_INTERPRET=1 was set before triton was imported. Each operation is also a
`torch.ops.fastenc.*` custom op, which torch.compile traces; eager calls run the launcher directly, without the
dispatcher (`_utils.KernelOp`), and are capturable in CUDA graphs.
"""
from ._utils import validate_forward
from .attention import attention
from .bias_gelu import bias_gelu
from .disentangled_attention import disentangled_attention
from .embeddings import embeddings
from .geglu import geglu, glu
from .layer_norm import layer_norm
from .linear_gelu import linear_gelu
from .rope import rope_qkv

__all__ = ["attention", "bias_gelu", "disentangled_attention", "embeddings", "geglu", "glu", "layer_norm",
           "linear_gelu", "rope_qkv", "validate_forward"]

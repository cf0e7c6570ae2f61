"""Fused Triton kernels for BERT-family encoders, installed as `fastenc.kernels`.

Drop-in for `fastenc.reference` (same functions, same signatures): CUDA tensors run compiled; CPU tensors run through
the Triton interpreter when TRITON_INTERPRET=1 was set before triton was imported. Each operation is also a
`torch.ops.fastenc.*` custom op, so it composes with torch.compile and CUDA graphs.
"""
if __name__ == "fastenc.kernels":
    from .attention import attention
    from .bias_gelu import bias_gelu
    from .embeddings import embeddings
    from .layer_norm import layer_norm

    __all__ = ["attention", "bias_gelu", "embeddings", "layer_norm"]
# Otherwise this folder was found as a top-level `kernels` because the repository root is on sys.path: transformers
# probes for the Hub's `kernels` package by importing that name. Stay empty then, so our custom ops are registered
# once (by fastenc.kernels) and transformers, finding no version here, sees no Hub `kernels` package.

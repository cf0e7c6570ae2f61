"""Fused Triton kernels for BERT-family encoders, installed as `fastenc.kernels`."""

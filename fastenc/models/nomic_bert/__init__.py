"""NomicBERT: a post-LayerNorm encoder with RoPE, a SwiGLU feed-forward and bias-free projections."""

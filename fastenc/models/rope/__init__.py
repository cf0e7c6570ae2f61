"""What the RoPE families share: the angle tables (ModernBERT, GTE, NomicBERT), the reader of config.json's RoPE
parameters, and the post-LayerNorm RoPE + gated-MLP layer and stack that GTE and NomicBERT are both built from."""

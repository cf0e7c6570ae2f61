"""ModernBERT: a pre-LayerNorm encoder with RoPE, GeGLU and alternating global / sliding-window attention."""

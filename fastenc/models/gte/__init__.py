"""GTE (Alibaba-NLP gte-*-v1.5, gte-multilingual): a post-LayerNorm encoder with RoPE, a gated MLP and optional logn
attention scaling."""

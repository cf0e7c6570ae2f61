"""DeBERTa-v2/v3: BERT's post-LayerNorm layers with disentangled (content and relative-position) attention."""

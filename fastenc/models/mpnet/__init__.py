"""MPNet: BERT's post-LayerNorm layers with a T5-style relative position bias shared by all layers."""

"""Token ids -> ModernBERT's first hidden states: the token embedding, then a LayerNorm (no position embeddings:
positions enter each layer through RoPE)."""
import numpy as np
import torch
from torch import nn

from ...config import EncoderConfig
from ...ops.packing import row_positions
from .norm import Norm


class Embeddings(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.word = nn.Embedding(config.vocab_size, config.hidden_size)
        self.norm = Norm(config.hidden_size, config.layer_norm_eps, config.modernbert.norm_bias)

    def position_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, T) positions of a padded batch: 0 .. T - 1 along each row, padding included, as transformers counts."""
        B, T = input_ids.shape
        return torch.arange(T, device=input_ids.device).expand(B, T)

    def packed_position_ids(self, input_ids: np.ndarray, cu_seqlens: np.ndarray) -> np.ndarray:
        """(N,) positions of packed sequences: 0, 1, ... within each sequence."""
        return row_positions(cu_seqlens)

    def forward(self, input_ids, position_ids, token_type_ids, ops):
        """Ids of any shape ((B, T) padded or (N,) packed) -> (..., H)."""
        return ops.embeddings(input_ids, None, None, self.word.weight, None, None, self.norm.weight, self.norm.shift(),
                              self.norm.eps)

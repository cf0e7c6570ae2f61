"""Token ids -> NomicBERT's first hidden states: word + token-type embeddings, then LayerNorm (no position table:
positions enter each layer through RoPE)."""
import numpy as np
import torch
from torch import nn

from ...config import EncoderConfig
from ...ops.packing import row_positions


class Embeddings(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        H = config.hidden_size
        self.word = nn.Embedding(config.vocab_size, H)
        self.token_type = nn.Embedding(config.type_vocab_size, H)  # always added, type 0 when none is given
        self.norm = nn.LayerNorm(H, eps=config.layer_norm_eps)

    def position_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, T) RoPE positions of a padded batch: 0 .. T - 1 along each row, padding included, as transformers."""
        B, T = input_ids.shape
        return torch.arange(T, device=input_ids.device).expand(B, T)

    def packed_position_ids(self, input_ids: np.ndarray, cu_seqlens: np.ndarray) -> np.ndarray:
        """(N,) positions of packed sequences: 0, 1, ... within each sequence."""
        return row_positions(cu_seqlens)

    def forward(self, input_ids, position_ids, token_type_ids, ops):
        """Ids of any shape ((B, T) padded or (N,) packed) -> (..., H)."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        return ops.embeddings(input_ids, None, token_type_ids, self.word.weight, None, self.token_type.weight,
                              self.norm.weight, self.norm.bias, self.norm.eps)

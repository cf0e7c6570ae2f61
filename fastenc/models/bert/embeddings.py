"""Token ids -> the first hidden states: word + position + token-type embeddings, then LayerNorm."""
import numpy as np
import torch
from torch import nn

from ...config import EncoderConfig
from ...ops.packing import row_positions


class Embeddings(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        E = config.embedding_size
        self.config = config
        self.word = nn.Embedding(config.vocab_size, E)
        # RoBERTa's table has pad_token_id + 1 extra rows in front: positions start after the padding index.
        self.position = nn.Embedding(config.max_position_embeddings, E)
        self.token_type = nn.Embedding(config.type_vocab_size, E) if config.type_vocab_size else None
        self.norm = nn.LayerNorm(E, eps=config.layer_norm_eps)

    @property
    def padding_idx(self) -> int | None:
        """The id whose tokens RoBERTa-style numbering skips (real tokens count up from it + 1); None: positions are
        0, 1, ... along the row."""
        return self.config.pad_token_id if self.config.family == "roberta" else None

    def position_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(B, T) positions of a padded batch as the family numbers them."""
        B, T = input_ids.shape
        pad = self.padding_idx
        if pad is not None:
            # Padding tokens get the padding index; real tokens count up from pad + 1, skipping padding.
            real = input_ids.ne(pad).int()
            return (torch.cumsum(real, dim=1).type_as(real) * real).long() + pad
        return torch.arange(T, device=input_ids.device).expand(B, T)

    def packed_position_ids(self, input_ids: np.ndarray, cu_seqlens: np.ndarray) -> np.ndarray:
        """(N,) positions of packed sequences (host arrays), numbered as `position_ids` numbers a padded batch."""
        positions = row_positions(cu_seqlens)  # (N,) 0, 1, ... within each sequence
        pad = self.padding_idx
        if pad is None:
            return positions
        # RoBERTa counts only tokens that are not the pad id (a text may spell it) and gives those the pad index.
        real = (np.asarray(input_ids) != pad).astype(np.int64)  # (N,)
        counted = np.cumsum(real)  # (N,) running count over the whole batch
        before = np.concatenate(([0], counted))[cu_seqlens[:-1]]  # (B,) count before each sequence starts
        return (counted - np.repeat(before, np.diff(cu_seqlens))) * real + pad

    def forward(self, input_ids, position_ids, token_type_ids, ops):
        """Ids of any shape ((B, T) padded or (N,) packed) -> (..., E)."""
        return ops.embeddings(
            input_ids,
            position_ids,
            token_type_ids,
            self.word.weight,
            self.position.weight,
            self.token_type.weight if self.token_type is not None else None,
            self.norm.weight,
            self.norm.bias,
            self.norm.eps,
        )


def sinusoidal_table(num_positions: int, dim: int) -> torch.Tensor:
    """DistilBERT's fixed position table: sin on even channels, cos on odd ones, computed in float64 as it does."""
    position = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (P, 1)
    channel = torch.arange(dim, dtype=torch.float64)[None, :]  # (1, E)
    angle = position / torch.pow(10000.0, 2 * torch.div(channel, 2, rounding_mode="floor") / dim)  # (P, E)
    table = torch.empty(num_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle[:, 0::2])
    table[:, 1::2] = torch.cos(angle[:, 1::2])
    return table.float()


def max_sequence_length(config: EncoderConfig) -> int:
    """Longest input the position table covers (RoBERTa loses pad_token_id + 1 rows to its offset)."""
    return config.max_position_embeddings - config.position_offset

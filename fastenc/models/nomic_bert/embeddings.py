"""Token ids -> NomicBERT's first hidden states: word + token-type embeddings, then LayerNorm (no position table:
positions enter each layer through RoPE, numbered as BERT numbers them)."""
import torch
from torch import nn

from ...config import EncoderConfig
from ..bert import embeddings as bert


class Embeddings(bert.Embeddings):
    """BERT's embeddings without the position table; BERT's position numbering (0 .. T - 1 per sequence, padded
    rows counted along the row as transformers does) feeds RoPE instead."""

    def __init__(self, config: EncoderConfig):
        nn.Module.__init__(self)  # bert.Embeddings.__init__ would build a position table
        H = config.hidden_size
        self.config = config
        self.word = nn.Embedding(config.vocab_size, H)
        self.token_type = nn.Embedding(config.type_vocab_size, H)  # always added, type 0 when none is given
        self.norm = nn.LayerNorm(H, eps=config.layer_norm_eps)

    def forward(self, input_ids, position_ids, token_type_ids, ops):
        """Ids of any shape ((B, T) padded or (N,) packed) -> (..., H)."""
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        return ops.embeddings(input_ids, None, token_type_ids, self.word.weight, None, self.token_type.weight,
                              self.norm.weight, self.norm.bias, self.norm.eps)

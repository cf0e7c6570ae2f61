"""Token ids -> GTE's first hidden states: word (+ token-type, when the checkpoint has types) embeddings, then
LayerNorm. No position embeddings: positions enter each layer through RoPE."""
import torch

from ..bert.embeddings import Embeddings


class GteEmbeddings(Embeddings):
    """BERT's embeddings without the position table; positions 0 .. T - 1 along each row, as transformers counts."""

    def __init__(self, config):
        super().__init__(config)
        del self.position  # RoPE only

    def forward(self, input_ids, position_ids, token_type_ids, ops):
        """Ids of any shape ((B, T) padded or (N,) packed) -> (..., H)."""
        token_type = self.token_type.weight if self.token_type is not None else None
        if token_type is not None and token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)  # transformers' default: every token of type 0
        return ops.embeddings(input_ids, None, token_type_ids, self.word.weight, None, token_type, self.norm.weight,
                              self.norm.bias, self.norm.eps)

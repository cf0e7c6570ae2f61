"""Token ids -> DeBERTa-v2's first hidden states: word (+ absolute position) (+ token type), projected, LayerNorm."""
import torch.nn.functional as F
from torch import nn

from ...config import EncoderConfig
from ..bert.embeddings import Embeddings


class DebertaEmbeddings(Embeddings):
    def __init__(self, config: EncoderConfig):
        nn.Module.__init__(self)
        E, H = config.embedding_size, config.hidden_size
        self.config = config
        self.word = nn.Embedding(config.vocab_size, E)
        # v3 checkpoints add no absolute positions (position_biased_input false): relative attention alone.
        absolute = config.deberta.position_biased_input
        self.position = nn.Embedding(config.max_position_embeddings, E) if absolute else None
        self.token_type = nn.Embedding(config.type_vocab_size, E) if config.type_vocab_size else None
        self.project = nn.Linear(E, H, bias=False) if E != H else None  # transformers' embed_proj
        self.norm = nn.LayerNorm(H, eps=config.layer_norm_eps)

    def forward(self, input_ids, position_ids, token_type_ids, ops):
        """Ids of any shape ((B, T) padded or (N,) packed) -> (..., H)."""
        position = self.position.weight if self.position is not None else None
        token_type = self.token_type.weight if self.token_type is not None else None
        # transformers adds positions before token types; the fused op adds its `token_type` table first, so the two
        # tables go in swapped to round the sums in the same order.
        args = (input_ids, token_type_ids, position_ids, self.word.weight, token_type, position)
        if self.project is None:
            return ops.embeddings(*args, self.norm.weight, self.norm.bias, self.norm.eps)
        x = self.word.weight[input_ids]  # (..., E)
        if position is not None:
            x = x + position[position_ids]
        if token_type is not None:
            x = x + token_type[token_type_ids]
        x = F.linear(x, self.project.weight)  # (..., H)
        return ops.layer_norm(x, self.norm.weight, self.norm.bias, self.norm.eps)

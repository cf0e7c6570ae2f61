"""Token ids -> MPNet's first hidden states: word + position embeddings (no token types), then LayerNorm; positions
numbered as RoBERTa numbers them, from MPNet's fixed padding index."""
from ..bert.embeddings import Embeddings
from .config import PADDING_IDX


class MPNetEmbeddings(Embeddings):
    @property
    def padding_idx(self) -> int:
        return PADDING_IDX  # transformers hard-codes 1, whatever pad_token_id says

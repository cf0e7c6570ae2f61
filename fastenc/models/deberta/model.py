"""DeBERTa-v2/v3 as a pure tensor module: fastenc.models.bert's EncoderModel (packed data path, padded edge, heads)
with DeBERTa's embeddings and disentangled-attention encoder."""
from ..bert.model import EncoderModel
from .embeddings import DebertaEmbeddings
from .encoder import DebertaEncoder


class DebertaModel(EncoderModel):
    embeddings_class = DebertaEmbeddings
    encoder_class = DebertaEncoder

    def packable(self, host_mask) -> bool:
        """Relative positions count padded columns (transformers numbers tokens by their column): a row packs only
        when its real tokens are one run from column 0, where packing keeps every distance."""
        starts = host_mask[:, 0].bool()
        runs = (host_mask[:, 1:].int() - host_mask[:, :-1].int()).gt(0).any(dim=1)  # a 0 -> 1 step: a hole
        return bool(starts.all()) and not bool(runs.any())

"""MPNet as a pure tensor module: fastenc.models.bert's EncoderModel (packed data path, padded edge, heads) with
MPNet's embeddings and relative-position-bias encoder."""
from ..bert.model import EncoderModel
from .embeddings import MPNetEmbeddings
from .encoder import MPNetEncoder


class MPNetModel(EncoderModel):
    embeddings_class = MPNetEmbeddings
    encoder_class = MPNetEncoder

    def packable(self, host_mask) -> bool:
        """Relative distances count padded columns (transformers numbers query and key by their column): a row packs
        only when its real tokens are a prefix from column 0, where packing keeps every distance."""
        return super().packable(host_mask) and bool((host_mask[:, 1:] <= host_mask[:, :-1]).all())

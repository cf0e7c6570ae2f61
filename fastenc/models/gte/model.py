"""GTE as a pure tensor module: fastenc.models.bert's EncoderModel (packed data path, padded edge, the registry's
heads: pooler + classifier, masked LM, token classifier) with GTE's embeddings and RoPE encoder."""
import torch

from ..bert.model import EncoderModel
from .embeddings import GteEmbeddings
from .encoder import GteEncoder


class GteModel(EncoderModel):
    embeddings_class = GteEmbeddings
    encoder_class = GteEncoder

    def packable(self, host_mask: torch.Tensor) -> bool:
        """Only masks whose real tokens form a prefix of each row: transformers numbers RoPE positions along the
        padded row, which packing would renumber around a hole or left padding."""
        return bool((host_mask[:, 1:] <= host_mask[:, :-1]).all()) and bool(host_mask[:, 0].all())

    def encode(self, x, position_ids, attention_args: dict, output_hidden_states=False, output_attentions=False):
        """The layers need the positions too: RoPE rotates each token by its own."""
        return self.encoder(x, position_ids, attention_args, self.ops, output_hidden_states, output_attentions)

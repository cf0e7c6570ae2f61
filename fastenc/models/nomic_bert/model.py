"""NomicBERT as a pure tensor module: packed ids -> embeddings -> RoPE / SwiGLU layers -> BERT's heads -> outputs.

It is the BERT model (fastenc.models.bert.model: padded call, packing, backends, heads from the registry) with its own
embeddings and layers; the layers read each token's position for RoPE.
"""
from ...config import ConfigError, EncoderConfig
from ..bert.model import EncoderModel
from ..rope.glu_encoder import RopeGluEncoder
from .embeddings import Embeddings

# The heads transformers has for nomic_bert (NomicBertModel, ...ForMaskedLM, ...ForSequenceClassification,
# ...ForTokenClassification), by our task name.
TASKS = ("base", "masked_lm", "sequence_classification", "token_classification")


class NomicBertEncoder(RopeGluEncoder):
    """NomicBERT's layers: no product has a bias, no query scale."""

    def __init__(self, config: EncoderConfig):
        super().__init__(config, config.nomic_bert, bias=False)


class NomicBertModel(EncoderModel):
    embeddings_class = Embeddings
    encoder_class = NomicBertEncoder

    def __init__(self, config: EncoderConfig, with_pooler: bool = False):
        if config.task not in TASKS:
            raise ConfigError(f"task {config.task!r} is not a NomicBERT head; transformers' nomic_bert has {TASKS}")
        super().__init__(config, with_pooler)

    def encode(self, x, position_ids, attention_args: dict, output_hidden_states=False, output_attentions=False):
        """The layers need the positions too: RoPE rotates each token by its own."""
        return self.encoder(x, position_ids, attention_args, self.ops, output_hidden_states, output_attentions)

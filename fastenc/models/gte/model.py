"""GTE as a pure tensor module: fastenc.models.bert's EncoderModel (packed data path, padded edge, the registry's
heads: pooler + classifier, masked LM, token classifier) with GTE's embeddings and the RoPE + gated-MLP stack."""
import torch

from ...config import ConfigError
from ..bert.model import EncoderModel
from ..rope.glu_encoder import RopeGluEncoder
from .embeddings import GteEmbeddings


class GteEncoder(RopeGluEncoder):
    """GTE's layers: biased QKV, attention-output and FFN-output products, and the logn query scale when config.json
    sets logn_attention_scale."""

    def __init__(self, config):
        options = config.gte
        super().__init__(config, options, bias=True, logn_clip1=options.logn_clip1,
                         logn_length=options.logn_length if options.logn_attention_scale else None)


class GteModel(EncoderModel):
    embeddings_class = GteEmbeddings
    encoder_class = GteEncoder
    TASKS = ("base", "masked_lm", "sequence_classification", "token_classification")  # the heads transformers has

    def __init__(self, config, with_pooler: bool = False):
        if config.task not in self.TASKS:
            raise ConfigError(f"task {config.task!r} needs a head GTE does not have; it runs tasks {self.TASKS}")
        super().__init__(config, with_pooler)

    @property
    def max_length(self) -> int:
        """RoPE has no position table (transformers takes any length): fastenc takes up to max_position_embeddings,
        times the factor of a linear or NTK scaling, the context that scaling stretches the positions to. Dynamic
        NTK stays at max_position_embeddings, beyond which transformers rescales by the padded batch's length."""
        options = self.config.gte
        factor = options.rope_factor if options.rope_type in ("linear", "ntk") else 1.0
        return int(self.config.max_position_embeddings * factor)

    def packable(self, host_mask: torch.Tensor) -> bool:
        """Only masks whose real tokens form a prefix of each row: transformers numbers RoPE positions along the
        padded row, which packing would renumber around a hole or left padding."""
        return bool((host_mask[:, 1:] <= host_mask[:, :-1]).all()) and bool(host_mask[:, 0].all())

    def encode(self, x, position_ids, attention_args: dict, output_hidden_states=False, output_attentions=False):
        """The layers need the positions too: RoPE rotates each token by its own."""
        return self.encoder(x, position_ids, attention_args, self.ops, output_hidden_states, output_attentions)

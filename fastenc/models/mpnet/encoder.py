"""MPNet's stack: BERT's layers, with one (rows, heads) relative position bias table that every layer's attention
adds at the bucket of each key - query distance."""
from torch import nn

from ...config import EncoderConfig
from ...ops.relative_bias import RelativeBias
from ..bert.encoder import Encoder


class MPNetEncoder(Encoder):
    def __init__(self, config: EncoderConfig):
        super().__init__(config)
        self.settings = config.mpnet
        self.relative_attention_bias = nn.Embedding(config.mpnet.relative_attention_num_buckets, config.num_heads)

    def forward(self, x, attention_args: dict, ops, output_hidden_states: bool = False,
                output_attentions: bool = False):
        """As fastenc.models.bert.encoder.Encoder, each layer's attention given the shared bias table (the ops
        expand it: once per batch on the CPU, per tile inside the Triton kernel)."""
        bias = RelativeBias(self.relative_attention_bias.weight, self.settings.num_buckets, self.settings.max_distance)
        return super().forward(x, {**attention_args, "position_bias": bias}, ops, output_hidden_states,
                               output_attentions)

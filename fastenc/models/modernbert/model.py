"""ModernBERT as a pure tensor module: packed ids -> embeddings -> layers -> final norm -> heads -> outputs.

It shares the BERT model's user-facing padded call, packing, backends and CUDA graphs (fastenc.models.bert.model) and
replaces what differs: the layers, RoPE positions, the heads and how a sequence is pooled for classification.
"""
import torch
from torch import nn

from ...config import ConfigError, EncoderConfig
from ...ops.packing import PackedBatch
from ...outputs import EncoderOutput
from ..bert.model import EncoderModel
from ..registry import HEADS, heads_for, per_token_fields
from .embeddings import Embeddings
from .encoder import ModernBertEncoder
from .heads import BUILDERS


class ModernBertModel(EncoderModel):
    def __init__(self, config: EncoderConfig, with_pooler: bool = False):
        nn.Module.__init__(self)  # EncoderModel.__init__ would build BERT's modules
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = ModernBertEncoder(config)
        self.head_specs = heads_for(config, False)  # ModernBERT has no pooler
        missing = [spec.name for spec in self.head_specs if spec.name not in BUILDERS]
        if missing:
            raise ConfigError(f"task {config.task!r} needs the {missing} head(s), which ModernBERT does not have; "
                              f"it runs {sorted(BUILDERS)} (tasks base, masked_lm, sequence_classification, "
                              "token_classification, question_answering)")
        for spec in HEADS:
            setattr(self, spec.name, BUILDERS[spec.name](config) if spec in self.head_specs else None)
        self.token_fields = per_token_fields(config)
        self.padding_free = True
        self.graphs = None
        self.set_backend("torch")

    def packable(self, host_mask: torch.Tensor) -> bool:
        """Only masks whose real tokens form a prefix of each row: RoPE positions and the sliding window count
        positions in the padded row, which packing would renumber around a hole or left padding."""
        return bool((host_mask[:, 1:] <= host_mask[:, :-1]).all())

    def encode(self, x, position_ids, attention_args: dict, output_hidden_states=False, output_attentions=False):
        """The layers need the positions too: RoPE rotates each token by its own."""
        return self.encoder(x, position_ids, attention_args, self.ops, output_hidden_states, output_attentions)

    def run_head(self, spec, tokens, pooled, out: EncoderOutput):
        """ModernBERT's heads take the ops, the sequence classifier `pooled` (B, H); there is no pooler."""
        return getattr(self, spec.name)(tokens if spec.per_token else pooled, self.ops)

    def pool_packed(self, x, batch: PackedBatch):
        """(B, H): each sequence's first token, or the mean of its tokens (`classifier_pooling`)."""
        if self.config.modernbert.classifier_pooling == "cls":
            return x.index_select(0, batch.first_tokens())
        lengths = (batch.cu_seqlens[1:] - batch.cu_seqlens[:-1]).to(x.dtype)  # (B,)
        sums = x.new_zeros(batch.num_rows, x.shape[-1]).index_add_(0, batch.sequence_index(), x)  # (B, H)
        return sums / lengths[:, None]

    def pool_padded(self, x, attention_mask):
        if self.config.modernbert.classifier_pooling == "cls":
            return x[:, 0]  # as transformers does, also under left padding
        if attention_mask is None:
            return x.mean(dim=1)
        mask = attention_mask.to(x.dtype)  # (B, T)
        return (x * mask[..., None]).sum(dim=1) / mask.sum(dim=1, keepdim=True)

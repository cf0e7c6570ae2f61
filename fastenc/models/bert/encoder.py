"""The stack of layers. BERT-like models apply each layer once; ALBERT applies a few shared layers many times."""
import torch.nn.functional as F
from torch import nn

from ...config import EncoderConfig
from .layer import EncoderLayer


def layer_schedule(config: EncoderConfig) -> list[list[int]]:
    """For each of the num_layers steps, the indices of the distinct layers it runs, in order.

    BERT: [[0], [1], ...]. ALBERT: step i runs the inner layers of group i * groups // num_layers.
    """
    inner = config.inner_group_num if config.family == "albert" else 1
    groups = config.num_hidden_groups if config.family == "albert" else config.num_layers
    steps_per_group = config.num_layers // groups
    return [[(i // steps_per_group) * inner + j for j in range(inner)] for i in range(config.num_layers)]


def num_distinct_layers(config: EncoderConfig) -> int:
    """How many layers have weights of their own (ALBERT shares a few across all steps)."""
    return max(max(step) for step in layer_schedule(config)) + 1


class Encoder(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.schedule = layer_schedule(config)
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(num_distinct_layers(config)))
        # ALBERT's (always) and ELECTRA's (when narrower) embeddings are mapped up to the hidden size once, before
        # the first layer.
        projected = config.family == "albert" or (config.family == "electra"
                                                   and config.embedding_size != config.hidden_size)
        self.project_in = nn.Linear(config.embedding_size, config.hidden_size) if projected else None

    def forward(self, x, attention_args: dict, ops, output_hidden_states: bool = False,
                output_attentions: bool = False):
        """Returns the last hidden state, every hidden state from the embeddings on (when asked, else None), and
        every layer's attention weights (when asked, else None)."""
        if self.project_in is not None:
            x = F.linear(x, self.project_in.weight, self.project_in.bias)
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for step in self.schedule:
            for index in step:
                x, probs = self.layers[index](x, attention_args, ops, output_attentions)
                if output_hidden_states:
                    hidden_states.append(x)
                if output_attentions:
                    attentions.append(probs)
        return x, hidden_states, attentions

"""The stack of NomicBERT layers, with the RoPE angles of the tokens computed once for all of them."""
from torch import nn

from ...config import EncoderConfig
from ..modernbert.rope import RotaryAngles
from .layer import NomicBertLayer


class NomicBertEncoder(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.head_dim = config.head_dim
        self.options = config.nomic_bert
        self.layers = nn.ModuleList(NomicBertLayer(config) for _ in range(config.num_layers))

    def forward(self, x, position_ids, attention_args: dict, ops, output_hidden_states: bool = False,
                output_attentions: bool = False):
        """Returns the last hidden state, the hidden states (when asked: the embeddings, then each layer's output)
        and each layer's attention weights (when asked)."""
        # One base for every layer; float32 angles as transformers computes them, linear scaling applied.
        rotary = RotaryAngles(position_ids, self.head_dim, self.options.rope_factor)(self.options.rope_theta)
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for layer in self.layers:
            x, probs = layer(x, attention_args, rotary, ops, output_attentions)
            if output_hidden_states:
                hidden_states.append(x)
            if output_attentions:
                attentions.append(probs)
        return x, hidden_states, attentions

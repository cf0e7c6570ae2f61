"""The stack of ModernBERT layers and the final LayerNorm, with the RoPE angles shared by the layers of each base."""
from torch import nn

from ...config import EncoderConfig
from ..rope.angles import RotaryAngles
from .layer import ModernBertLayer
from .norm import Norm


class ModernBertEncoder(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.head_dim = config.head_dim
        self.layers = nn.ModuleList(ModernBertLayer(config, i) for i in range(config.num_layers))
        self.final_norm = Norm(config.hidden_size, config.layer_norm_eps, config.modernbert.norm_bias)

    def forward(self, x, position_ids, attention_args: dict, ops, output_hidden_states: bool = False,
                output_attentions: bool = False):
        """Returns the final-normed last hidden state, the hidden states (when asked: the embeddings, each layer's
        output, the last one final-normed, as transformers reports them) and each layer's attention weights."""
        angles = RotaryAngles(position_ids, self.head_dim)
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for layer in self.layers:
            x, probs = layer(x, attention_args, angles, ops, output_attentions)
            if output_hidden_states:
                hidden_states.append(x)
            if output_attentions:
                attentions.append(probs)
        x = self.final_norm(x, ops)
        if output_hidden_states:
            hidden_states[-1] = x
        return x, hidden_states, attentions

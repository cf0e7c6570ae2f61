"""The stack of GTE layers, with the RoPE tables and the logn query scale shared by every layer."""
import math

import torch
from torch import nn

from ...config import EncoderConfig
from .layer import GteLayer
from .rope import GteRotaryAngles


class GteEncoder(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.options, self.head_dim = config.gte, config.head_dim
        self.layers = nn.ModuleList(GteLayer(config) for _ in range(config.num_layers))

    def forward(self, x, position_ids, attention_args: dict, ops, output_hidden_states: bool = False,
                output_attentions: bool = False):
        """Returns the last hidden state, the hidden states (when asked: the embeddings and each layer's output)
        and each layer's attention weights (when asked)."""
        angles = GteRotaryAngles(position_ids, self.options, self.head_dim)
        query_scale = self.query_scale(x, attention_args) if self.options.logn_attention_scale else None
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for layer in self.layers:
            x, probs = layer(x, attention_args, angles, ops, query_scale, output_attentions)
            if output_hidden_states:
                hidden_states.append(x)
            if output_attentions:
                attentions.append(probs)
        return x, hidden_states, attentions

    def query_scale(self, x, attention_args: dict) -> torch.Tensor:
        """log(n) / log(logn_length) for each sequence of n real tokens (at least 1 with logn_attention_clip1),
        float32 as the original code computes it, shaped to broadcast over the (*lead, nh, hd) queries."""
        cu_seqlens = attention_args.get("cu_seqlens")
        if cu_seqlens is not None:  # packed (N, H): one factor per token, its sequence's
            lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).long()  # (B,)
        else:
            mask = attention_args.get("key_padding_mask")
            B, T = x.shape[:2]
            lengths = mask.sum(dim=1) if mask is not None else torch.full((B,), T, device=x.device)  # (B,)
        scale = lengths.float().log() / math.log(self.options.logn_length)
        if self.options.logn_clip1:
            scale = scale.clamp(min=1.0)
        if cu_seqlens is not None:
            scale = torch.repeat_interleave(scale, lengths, output_size=x.shape[0])  # (N,)
            return scale[:, None, None]  # (N, 1, 1)
        return scale[:, None, None, None]  # (B, 1, 1, 1)

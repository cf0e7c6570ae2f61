"""The stack of RopeGluLayers (GTE, NomicBERT), with the RoPE tables computed once per forward for every layer and
GTE's optional logn query scale: each sequence's queries scaled by log(its length) / log(the training length)."""
import math

import torch
from torch import nn

from ...config import EncoderConfig
from .angles import RotaryAngles, inverse_frequencies
from .config import RopeOptions
from .glu_layer import RopeGluLayer


class RopeGluEncoder(nn.Module):
    def __init__(self, config: EncoderConfig, rope: RopeOptions, bias: bool, logn_length: int | None = None,
                 logn_clip1: bool = False):
        """bias: the layers' QKV, attention-output and FFN-output products have biases; logn_length: the length the
        logn query scale is relative to (None: no scale), never below 1 with `logn_clip1`."""
        super().__init__()
        self.rope, self.head_dim = rope, config.head_dim
        self.logn_length, self.logn_clip1 = logn_length, logn_clip1
        self.layers = nn.ModuleList(RopeGluLayer(config, bias) for _ in range(config.num_layers))

    def forward(self, x, position_ids, attention_args: dict, ops, output_hidden_states: bool = False,
                output_attentions: bool = False):
        """Returns the last hidden state, the hidden states (when asked: the embeddings, then each layer's output)
        and each layer's attention weights (when asked)."""
        rotary = RotaryAngles(position_ids, self.head_dim, inverse_frequencies)(self.rope)  # one RoPE for all layers
        query_scale = self.query_scale(x, attention_args) if self.logn_length is not None else None
        hidden_states = [x] if output_hidden_states else None
        attentions = [] if output_attentions else None
        for layer in self.layers:
            x, probs = layer(x, attention_args, rotary, ops, query_scale, output_attentions)
            if output_hidden_states:
                hidden_states.append(x)
            if output_attentions:
                attentions.append(probs)
        return x, hidden_states, attentions

    def query_scale(self, x, attention_args: dict) -> torch.Tensor:
        """log(n) / log(logn_length) for each sequence of n real tokens (at least 1 with logn_clip1), float32 as the
        original code computes it, shaped to broadcast over the (*lead, nh, hd) queries."""
        cu_seqlens = attention_args.get("cu_seqlens")
        if cu_seqlens is not None:  # packed (N, H): one factor per token, its sequence's
            lengths = (cu_seqlens[1:] - cu_seqlens[:-1]).long()  # (B,)
        else:
            mask = attention_args.get("key_padding_mask")
            B, T = x.shape[:2]
            lengths = mask.sum(dim=1) if mask is not None else torch.full((B,), T, device=x.device)  # (B,)
        scale = lengths.float().log() / math.log(self.logn_length)
        if self.logn_clip1:
            scale = scale.clamp(min=1.0)
        if cu_seqlens is not None:
            scale = torch.repeat_interleave(scale, lengths, output_size=x.shape[0])  # (N,)
            return scale[:, None, None]  # (N, 1, 1)
        return scale[:, None, None, None]  # (B, 1, 1, 1)

"""One ModernBERT layer: pre-LayerNorm attention (RoPE, global or sliding-window) and a pre-LayerNorm GeGLU MLP.

Shape-agnostic in the leading dimensions like the BERT layer: packed (N, H) with cumulative sequence lengths, or
padded (B, T, H) with a key-padding mask, as `attention_args` says.
"""
import torch.nn.functional as F
from torch import nn

from ...config import EncoderConfig
from ...ops.reference import GELU_APPROXIMATIONS, activation, attention_probs
from .norm import Norm


class ModernBertLayer(nn.Module):
    def __init__(self, config: EncoderConfig, index: int):
        super().__init__()
        H, I = config.hidden_size, config.intermediate_size
        options = config.modernbert
        self.num_heads, self.head_dim = config.num_heads, config.head_dim
        self.window = options.window if options.sliding_layers[index] else None
        self.rope_theta = options.rope_theta(index)
        # The first layer reads the embeddings' own LayerNorm output: transformers gives it no attention norm.
        self.attn_norm = Norm(H, config.layer_norm_eps, options.norm_bias) if index > 0 else None
        self.qkv = nn.Linear(H, 3 * H, bias=options.attention_bias)  # stored fused (Wqkv)
        self.attn_out = nn.Linear(H, H, bias=options.attention_bias)
        self.mlp_norm = Norm(H, config.layer_norm_eps, options.norm_bias)
        self.ffn_in = nn.Linear(H, 2 * I, bias=options.mlp_bias)  # Wi: the GELU input, then the gate
        self.ffn_out = nn.Linear(I, H, bias=options.mlp_bias)
        self.gelu_approximate = GELU_APPROXIMATIONS.get(config.hidden_act)
        self.act = activation(config.hidden_act)

    def forward(self, x, attention_args: dict, angles, ops, return_attention: bool = False):
        """Returns the layer's output and, when asked (padded inputs only), its (B, nh, T, T) attention weights."""
        lead = x.shape[:-1]  # (B, T) padded or (N,) packed
        h = x if self.attn_norm is None else self.attn_norm(x, ops)
        qkv = F.linear(h, self.qkv.weight, self.qkv.bias).view(*lead, 3, self.num_heads, self.head_dim)
        cos, sin = angles(self.rope_theta)  # (*lead, hd / 2) each
        q, k, v = ops.rope_qkv(qkv, cos, sin)  # each (*lead, nh, hd)
        probs = None
        if return_attention:  # the weights must exist as a matrix: take the explicit reference path
            probs = attention_probs(q, k, attention_args.get("key_padding_mask"), window=self.window)  # (B, nh, T, T)
            context = (probs @ v.transpose(1, 2).float()).transpose(1, 2).to(x.dtype)  # (B, T, nh, hd)
        else:
            context = ops.attention(q, k, v, window=self.window, **attention_args)  # (*lead, nh, hd)
        x = x + F.linear(context.reshape(*lead, -1), self.attn_out.weight, self.attn_out.bias)  # (*lead, H)

        u = F.linear(self.mlp_norm(x, ops), self.ffn_in.weight, self.ffn_in.bias)  # (*lead, 2I)
        if self.gelu_approximate is not None:
            g = ops.geglu(u, self.gelu_approximate)  # (*lead, I)
        else:
            value, gate = u.chunk(2, dim=-1)
            g = self.act(value) * gate
        return x + F.linear(g, self.ffn_out.weight, self.ffn_out.bias), probs

"""One post-LayerNorm transformer encoder layer, as BERT, RoBERTa, DistilBERT and ALBERT all use.

The layer is shape-agnostic in its leading dimensions: padded batches arrive as (B, T, H) with a key-padding mask,
packed batches as (N, H) with cumulative sequence lengths; `attention_args` carries whichever applies.
"""
import torch.nn.functional as F
from torch import nn

from ...config import EncoderConfig
from ...ops.reference import GELU_APPROXIMATIONS, activation, attention_probs


class EncoderLayer(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        H, I = config.hidden_size, config.intermediate_size
        self.num_heads, self.head_dim = config.num_heads, config.head_dim
        self.qkv = nn.Linear(H, 3 * H)  # Q, K and V fused at load time: one GEMM instead of three
        self.attn_out = nn.Linear(H, H)
        self.attn_norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.ffn_in = nn.Linear(H, I)
        self.ffn_out = nn.Linear(I, H)
        self.ffn_norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.gelu_approximate = GELU_APPROXIMATIONS.get(config.hidden_act)
        self.act = activation(config.hidden_act)

    def forward(self, x, attention_args: dict, ops, return_attention: bool = False):
        """Returns the layer's output and, when asked (padded inputs only), its (B, nh, T, T) attention weights."""
        lead = x.shape[:-1]  # (B, T) padded or (N,) packed
        qkv = F.linear(x, self.qkv.weight, self.qkv.bias)  # (*lead, 3H)
        q, k, v = qkv.view(*lead, 3, self.num_heads, self.head_dim).unbind(-3)  # each (*lead, nh, hd), no copies
        context, probs = self.attend(q, k, v, attention_args, ops, return_attention)  # (*lead, nh, hd)
        attn = F.linear(context.reshape(*lead, -1), self.attn_out.weight, self.attn_out.bias)  # (*lead, H)
        x = ops.layer_norm(attn, self.attn_norm.weight, self.attn_norm.bias, self.attn_norm.eps, residual=x)

        h = F.linear(x, self.ffn_in.weight)  # (*lead, I); the bias is added in the fused activation below
        if self.gelu_approximate is not None:
            h = ops.bias_gelu(h, self.ffn_in.bias, self.gelu_approximate)
        else:
            h = self.act(h + self.ffn_in.bias)
        y = F.linear(h, self.ffn_out.weight, self.ffn_out.bias)  # (*lead, H)
        return ops.layer_norm(y, self.ffn_norm.weight, self.ffn_norm.bias, self.ffn_norm.eps, residual=x), probs

    def attend(self, q, k, v, attention_args: dict, ops, return_attention: bool):
        """Scaled dot-product attention: (context (*lead, nh, hd), the (B, nh, T, T) weights or None). Families with
        other attention (DeBERTa) override this and keep the rest of the layer."""
        if return_attention:  # the weights must exist as a matrix: take the explicit reference path
            probs = attention_probs(q, k, attention_args.get("key_padding_mask"))  # (B, nh, T, T)
            return (probs @ v.transpose(1, 2).float()).transpose(1, 2).to(q.dtype), probs  # (B, T, nh, hd)
        return ops.attention(q, k, v, **attention_args), None

"""One GTE layer: RoPE attention, residual, LayerNorm; gated MLP, residual, LayerNorm (post-norm, as BERT).

Shape-agnostic in the leading dimensions: packed (N, H) with cumulative sequence lengths, or padded (B, T, H) with a
key-padding mask, as `attention_args` says. `query_scale` (None, or one factor per token broadcastable to q) is the
logn attention scale of each token's sequence. On the CPU with the PyTorch ops the four products take BERT's fused
oneDNN path (prepacked weights, residual adds fused: fastenc.models.bert.layer, fastenc.ops.cpu_linear).
"""
import torch.nn.functional as F
from torch import nn

from ...config import EncoderConfig
from ...ops.reference import GELU_APPROXIMATIONS, activation, attention_probs
from ..bert.layer import EncoderLayer, _Packed


class GteLayer(EncoderLayer):
    """BERT's layer (its parameter names and CPU products) with RoPE, the logn scale and a gated MLP."""

    def __init__(self, config: EncoderConfig):
        nn.Module.__init__(self)  # EncoderLayer.__init__ would build BERT's FFN
        H, I = config.hidden_size, config.intermediate_size
        self.num_heads, self.head_dim = config.num_heads, config.head_dim
        self.qkv = nn.Linear(H, 3 * H)  # q_proj, k_proj, v_proj fused (the original's qkv_proj)
        self.attn_out = nn.Linear(H, H)
        self.attn_norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        # gate_proj then up_proj stacked (no bias): act(gate) * up is the GeGLU op's act(first half) * second half
        self.ffn_in = nn.Linear(H, 2 * I, bias=False)
        self.ffn_out = nn.Linear(I, H)
        self.ffn_norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.gelu_approximate = GELU_APPROXIMATIONS.get(config.hidden_act)
        self.act = activation(config.hidden_act)
        self._packed = _Packed()

    def forward(self, x, attention_args: dict, angles, ops, query_scale=None, return_attention: bool = False):
        """Returns the layer's output and, when asked (padded inputs only), its (B, nh, T, T) attention weights."""
        lead = x.shape[:-1]  # (B, T) padded or (N,) packed
        fused = self.cpu_linears(x, ops)
        qkv = fused["qkv"](x) if fused else F.linear(x, self.qkv.weight, self.qkv.bias)  # (*lead, 3H)
        q, k, v = ops.rope_qkv(qkv.view(*lead, 3, self.num_heads, self.head_dim), angles.cos, angles.sin)
        if query_scale is not None:  # logn: the original code scales the rotated query, in the query's dtype
            q = q * query_scale.to(q.dtype)
        probs = None
        if return_attention:  # the weights must exist as a matrix: take the explicit reference path
            probs = attention_probs(q, k, attention_args.get("key_padding_mask"))  # (B, nh, T, T)
            context = (probs @ v.transpose(1, 2).float()).transpose(1, 2).to(x.dtype)  # (B, T, nh, hd)
        else:
            context = ops.attention(q, k, v, **attention_args)  # (*lead, nh, hd)
        context = context.reshape(*lead, -1)  # (*lead, H)
        if fused:
            x = ops.layer_norm(fused["attn_out"](context, residual=x), self.attn_norm.weight, self.attn_norm.bias,
                               self.attn_norm.eps)
        else:
            attended = F.linear(context, self.attn_out.weight, self.attn_out.bias)  # (*lead, H)
            x = ops.layer_norm(attended, self.attn_norm.weight, self.attn_norm.bias, self.attn_norm.eps, residual=x)

        u = fused["ffn_in"](x) if fused else F.linear(x, self.ffn_in.weight)  # (*lead, 2I): gate, then up
        if self.gelu_approximate is not None:
            g = ops.geglu(u, self.gelu_approximate)  # (*lead, I)
        else:
            gate, up = u.chunk(2, dim=-1)
            g = self.act(gate) * up
        if fused:
            out = fused["ffn_out"](g, residual=x)  # (*lead, H)
            return ops.layer_norm(out, self.ffn_norm.weight, self.ffn_norm.bias, self.ffn_norm.eps), probs
        out = F.linear(g, self.ffn_out.weight, self.ffn_out.bias)  # (*lead, H)
        return ops.layer_norm(out, self.ffn_norm.weight, self.ffn_norm.bias, self.ffn_norm.eps, residual=x), probs

"""One post-LayerNorm RoPE layer with a gated MLP, as GTE and NomicBERT both run it: RoPE attention on the fused QKV,
residual add, LayerNorm; act(gate) * up, residual add, LayerNorm.

The families differ only in what their config says: whether the QKV, attention-output and FFN-output products carry
biases (GTE: yes, NomicBERT: no; the gate/up product never does), the attention width (NomicBERT may set head_dim
apart from hidden_size / heads) and an optional per-token query scale (GTE's logn). Shape-agnostic in the leading
dimensions like the BERT layer (packed (N, H) with cumulative sequence lengths, or padded (B, T, H) with a key-padding
mask, as `attention_args` says). It is BERT's layer with other products, so it keeps BERT's CPU path (oneDNN
prepacked weights, residual adds fused into the products: fastenc.models.bert.layer) and its attention call.
"""
import torch.nn.functional as F
from torch import nn

from ...config import EncoderConfig
from ...ops.reference import GLU_ACTIVATIONS, activation
from ..bert.layer import EncoderLayer, _Packed


class RopeGluLayer(EncoderLayer):
    def __init__(self, config: EncoderConfig, bias: bool):
        nn.Module.__init__(self)  # EncoderLayer.__init__ would build BERT's FFN
        H, I = config.hidden_size, config.intermediate_size
        self.num_heads, self.head_dim = config.num_heads, config.head_dim
        A = self.num_heads * self.head_dim  # attention width: H unless config.json sets head_dim apart
        self.qkv = nn.Linear(H, 3 * A, bias=bias)  # Q, K and V fused (at load time where stored apart)
        self.attn_out = nn.Linear(A, H, bias=bias)
        self.attn_norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.ffn_in = nn.Linear(H, 2 * I, bias=False)  # gate_proj then up_proj stacked: act(first half) * second
        self.ffn_out = nn.Linear(I, H, bias=bias)
        self.ffn_norm = nn.LayerNorm(H, eps=config.layer_norm_eps)
        self.glu_activation = GLU_ACTIVATIONS.get(config.hidden_act)  # None: an activation the glu op lacks
        self.act = activation(config.hidden_act)
        self._packed = _Packed()

    def forward(self, x, attention_args: dict, rotary, ops, query_scale=None, return_attention: bool = False):
        """rotary: the (cos, sin) RoPE tables of the tokens, (*lead, hd / 2) each; query_scale: None, or a factor per
        token broadcastable to the (*lead, nh, hd) queries. Returns the layer's output and, when asked (padded inputs
        only), its (B, nh, T, T) attention weights."""
        lead = x.shape[:-1]  # (B, T) padded or (N,) packed
        fused = self.cpu_linears(x, ops)
        qkv = fused["qkv"](x) if fused else F.linear(x, self.qkv.weight, self.qkv.bias)  # (*lead, 3A)
        q, k, v = ops.rope_qkv(qkv.view(*lead, 3, self.num_heads, self.head_dim), *rotary)  # each (*lead, nh, hd)
        if query_scale is not None:  # logn: the original code scales the rotated query, in the query's dtype
            q = q * query_scale.to(q.dtype)
        context, probs = self.attend(q, k, v, attention_args, ops, return_attention)  # (*lead, nh, hd)
        context = context.reshape(*lead, -1)  # (*lead, A)
        if fused:  # the residual adds fused into the products (the sums transformers forms, rounded once)
            x = ops.layer_norm(fused["attn_out"](context, residual=x), self.attn_norm.weight, self.attn_norm.bias,
                               self.attn_norm.eps)
            y = fused["ffn_out"](self.gate(fused["ffn_in"](x), ops), residual=x)  # (*lead, H)
            return ops.layer_norm(y, self.ffn_norm.weight, self.ffn_norm.bias, self.ffn_norm.eps), probs
        attn = F.linear(context, self.attn_out.weight, self.attn_out.bias)  # (*lead, H)
        x = ops.layer_norm(attn, self.attn_norm.weight, self.attn_norm.bias, self.attn_norm.eps, residual=x)
        y = F.linear(self.gate(F.linear(x, self.ffn_in.weight), ops), self.ffn_out.weight, self.ffn_out.bias)
        return ops.layer_norm(y, self.ffn_norm.weight, self.ffn_norm.bias, self.ffn_norm.eps, residual=x), probs

    def gate(self, u, ops):
        """(*lead, 2I) gate_proj and up_proj outputs -> act(gate) * up (*lead, I), as transformers' MLP computes."""
        if self.glu_activation is not None:
            return ops.glu(u, self.glu_activation)
        gate, up = u.chunk(2, dim=-1)  # (*lead, I) each
        return self.act(gate) * up

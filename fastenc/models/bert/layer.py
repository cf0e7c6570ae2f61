"""One post-LayerNorm transformer encoder layer, as BERT, RoBERTa, DistilBERT and ALBERT all use.

The layer is shape-agnostic in its leading dimensions: padded batches arrive as (B, T, H) with a key-padding mask,
packed batches as (N, H) with cumulative sequence lengths; `attention_args` carries whichever applies. On the CPU with
the PyTorch ops the four products run through oneDNN on prepacked weights, the residual adds fused into them and GELU
applied in place (fastenc.ops.cpu_linear); elsewhere (CUDA, the Triton kernels) they are plain `F.linear` calls and
the ops fuse the elementwise work, except the FFN's first product, which `ops.linear_gelu` runs with its bias and
GELU (one Triton GEMM with the activation in its epilogue on the triton backend).
"""
import torch
import torch.nn.functional as F
from torch import nn

from ...config import EncoderConfig
from ...ops import cpu_attention
from ...ops.cpu_linear import PackedLinear
from ...ops.reference import GELU_APPROXIMATIONS, activation, attention_probs

# The fused oneDNN path of the CPU reference ops; False runs the plain F.linear path (A/B benchmarks, debugging).
CPU_FUSED_LINEAR = True
# The FFN's first product with its bias and GELU in the GEMM's epilogue (ops.linear_gelu: one Triton kernel on the
# triton backend); False runs F.linear, then ops.bias_gelu over its output (A/B benchmarks, or where the fused kernel
# loses to cuBLAS + the elementwise pass: benchmarks/bench_kernels.py's linear_gelu rows). The torch backend computes
# the same composition either way.
FUSED_FFN_EPILOGUE = True
# Packed (padding-free) attention on the CPU through fastenc.ops.cpu_attention; False runs reference.attention's
# length buckets (A/B benchmarks, debugging).
CPU_ATTENTION_KERNEL = True
_LINEARS = ("qkv", "attn_out", "ffn_in", "ffn_out")
_PLAIN_VARLEN_ARGS = {"cu_seqlens", "max_seqlen", "softmax_scale"}  # what the CPU kernel reads (no window, no mask)


class _Packed:
    """The layer's PackedLinear per product, built on first CPU use; never copied or pickled with the module (the
    packed tensors are derived state: a copy repacks its own weights)."""

    def __init__(self):
        self.linears = None

    def __deepcopy__(self, memo):
        return _Packed()

    def __getstate__(self):
        return {"linears": None}


def _kernel_wins(cu_seqlens, dtype) -> bool:
    """Whether the CPU kernel beats reference.attention on this packed batch (2 threads,
    `benchmarks/results/cpu-attention-20261201-225620.txt`): every batch in fp32 (1.1-1.2x on a lone sequence, 1.7-6.2x
    on batches) and bf16 batches of 2+ sequences (0.99-3.3x); not a lone bf16 sequence, which the reference reads in
    place on AMX (1.1x the kernel at 128 tokens, 1.9x at 512)."""
    return dtype == torch.float32 or cu_seqlens.shape[0] > 2


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
        self._packed = _Packed()

    def cpu_linears(self, x, ops):
        """{name: PackedLinear} when this call takes the fused CPU path, else None. Repacked when a weight changed
        storage, dtype or device since it was packed (model.to(...), load_state_dict)."""
        if not (CPU_FUSED_LINEAR and ops.name == "torch" and x.device.type == "cpu"):
            return None
        linears = self._packed.linears
        if linears is None or not all(p.fresh() for p in linears.values()):
            linears = {name: PackedLinear(getattr(self, name).weight, getattr(self, name).bias) for name in _LINEARS}
            self._packed.linears = linears
        return linears

    def forward(self, x, attention_args: dict, ops, return_attention: bool = False):
        """Returns the layer's output and, when asked (padded inputs only), its (B, nh, T, T) attention weights."""
        lead = x.shape[:-1]  # (B, T) padded or (N,) packed
        fused = self.cpu_linears(x, ops)
        qkv = fused["qkv"](x) if fused else F.linear(x, self.qkv.weight, self.qkv.bias)  # (*lead, 3H)
        q, k, v = qkv.view(*lead, 3, self.num_heads, self.head_dim).unbind(-3)  # each (*lead, nh, hd), no copies
        context, probs = self.attend(q, k, v, attention_args, ops, return_attention)  # (*lead, nh, hd)
        context = context.reshape(*lead, -1)  # (*lead, H)
        if fused:
            return self._forward_fused(x, context, fused, ops), probs
        attn = F.linear(context, self.attn_out.weight, self.attn_out.bias)  # (*lead, H)
        x = ops.layer_norm(attn, self.attn_norm.weight, self.attn_norm.bias, self.attn_norm.eps, residual=x)

        if self.gelu_approximate is not None and FUSED_FFN_EPILOGUE:
            h = ops.linear_gelu(x, self.ffn_in.weight, self.ffn_in.bias, self.gelu_approximate)  # (*lead, I)
        else:
            h = F.linear(x, self.ffn_in.weight)  # (*lead, I); the bias is added in the activation's pass below
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
            probs = attention_probs(q, k, attention_args.get("key_padding_mask"),
                                    position_bias=attention_args.get("position_bias"))  # (B, nh, T, T)
            return (probs @ v.transpose(1, 2).float()).transpose(1, 2).to(q.dtype), probs  # (B, T, nh, hd)
        cu_seqlens = attention_args.get("cu_seqlens")
        if (CPU_ATTENTION_KERNEL and ops.name == "torch" and cu_seqlens is not None
                and set(attention_args) <= _PLAIN_VARLEN_ARGS and _kernel_wins(cu_seqlens, q.dtype)):
            out = cpu_attention.varlen_attention(q, k, v, cu_seqlens, attention_args.get("softmax_scale"))
            if out is not None:
                return out, None
        return ops.attention(q, k, v, **attention_args), None

    def _forward_fused(self, x, context, fused: dict, ops):
        """The rest of the layer on the CPU: both residual adds fused into their product (the sums transformers
        forms, (x W^T + b) + residual, rounded once), GELU in place on the FFN's first product."""
        attn = fused["attn_out"](context, residual=x)  # (*lead, H)
        x = ops.layer_norm(attn, self.attn_norm.weight, self.attn_norm.bias, self.attn_norm.eps)
        if self.gelu_approximate is not None:
            h = fused["ffn_in"](x, gelu=self.gelu_approximate)  # (*lead, I)
        else:
            h = self.act(fused["ffn_in"](x))
        y = fused["ffn_out"](h, residual=x)  # (*lead, H)
        return ops.layer_norm(y, self.ffn_norm.weight, self.ffn_norm.bias, self.ffn_norm.eps)

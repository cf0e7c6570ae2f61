"""GTE's RoPE tables: inverse frequencies for its base and scaling type, then each token's cos and sin.

Every scaling GTE runs is a different set of inverse frequencies, so the scaled tables go to the same `rope_qkv` op
as ModernBERT's. Computed in float32 on the CPU as transformers computes them at init (and the original remote code
for the fixed / mixed NTK scaling, which transformers has no rope_type for).
"""
import torch

from ..modernbert.rope import inverse_frequencies as default_inverse_frequencies
from .config import GteOptions


def inverse_frequencies(options: GteOptions, head_dim: int) -> torch.Tensor:
    """(hd / 2,) float32 inverse frequencies of `options`' RoPE."""
    factor = options.rope_factor
    if options.rope_type in ("default", "dynamic"):  # dynamic changes nothing up to max_position_embeddings
        return default_inverse_frequencies(options.rope_theta, head_dim)
    if options.rope_type == "linear":
        return default_inverse_frequencies(options.rope_theta, head_dim) / factor
    # ntk (https://kexue.fm/archives/9706): fixed scales the base by the factor and every frequency by
    # factor^(-2 / hd); mixed (mixed_b) keeps the base and divides frequency i by exp(a * i^b).
    if options.ntk_mixed_b is None:
        return default_inverse_frequencies(options.rope_theta * factor, head_dim) / factor ** (2 / head_dim)
    b = options.ntk_mixed_b
    a = torch.tensor(factor).log() / (head_dim / 2) ** b
    lambdas = (a * torch.arange(1, head_dim // 2 + 1).float() ** b).exp()  # (hd / 2,)
    return default_inverse_frequencies(options.rope_theta, head_dim) / lambdas


class GteRotaryAngles:
    """cos, sin (..., hd / 2) float32 per token position, computed once per forward and shared by every layer."""

    def __init__(self, position_ids: torch.Tensor, options: GteOptions, head_dim: int):
        inv_freq = inverse_frequencies(options, head_dim).to(position_ids.device)
        freqs = position_ids[..., None].float() * inv_freq  # (..., hd / 2)
        self.cos, self.sin = freqs.cos(), freqs.sin()

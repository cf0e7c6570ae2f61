"""RoPE angles: the cos and sin of each token's position times the inverse frequencies of its layer's base.

Computed once per forward for each base (global and local layers differ), in float32 exactly as transformers computes
them, and handed to the `rope_qkv` op of every layer that uses that base.
"""
import torch


def inverse_frequencies(base: float, head_dim: int) -> torch.Tensor:
    """(hd / 2,) float32 1 / base^(2i / hd), computed on the CPU in float32 as transformers does at init."""
    return 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))


class RotaryAngles:
    """cos, sin (..., hd / 2) float32 for each RoPE base, per token position, cached for one forward."""

    def __init__(self, position_ids: torch.Tensor, head_dim: int, factor: float = 1.0):
        self.position_ids = position_ids  # (N,) packed or (B, T) padded
        self.head_dim = head_dim
        self.factor = factor  # linear RoPE scaling (NomicBERT's rope_type "linear"): frequencies divided by it
        self._tables = {}

    def __call__(self, base: float):
        if base not in self._tables:
            inv_freq = inverse_frequencies(base, self.head_dim) / self.factor  # as transformers' linear scaling
            inv_freq = inv_freq.to(self.position_ids.device)
            freqs = self.position_ids[..., None].float() * inv_freq  # (..., hd / 2)
            self._tables[base] = (freqs.cos(), freqs.sin())
        return self._tables[base]

"""RoPE angle tables: the inverse frequencies of a base and scaling, and each token's cos and sin of its position
times them.

Every RoPE variant fastenc runs differs only in its inverse frequencies: ModernBERT's global and local bases, the
linear factor (GTE, NomicBERT), GTE's fixed and mixed NTK scaling. They are computed in float32 on the CPU as
transformers computes them at init (the original remote code for NTK, which transformers has no rope_type for), and
the tables once per forward for each set, handed to the `rope_qkv` op of every layer that uses it.
"""
import functools

import torch

from .config import RopeOptions


def default_inverse_frequencies(base: float, head_dim: int) -> torch.Tensor:
    """(hd / 2,) float32 1 / base^(2i / hd), computed on the CPU in float32 as transformers does at init."""
    return 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float) / head_dim))


def inverse_frequencies(options: RopeOptions, head_dim: int) -> torch.Tensor:
    """(hd / 2,) float32 inverse frequencies of `options`' RoPE type, base and factor."""
    factor = options.rope_factor
    if options.rope_type in ("default", "dynamic"):  # dynamic changes nothing up to max_position_embeddings
        return default_inverse_frequencies(options.rope_theta, head_dim)
    if options.rope_type == "linear":  # positions divided by the factor, as transformers' linear scaling
        return default_inverse_frequencies(options.rope_theta, head_dim) / factor
    # ntk (https://kexue.fm/archives/9706): fixed scales the base by the factor and every frequency by
    # factor^(-2 / hd); mixed (mixed_b) keeps the base and divides frequency i by exp(a * i^b).
    if options.ntk_mixed_b is None:
        return default_inverse_frequencies(options.rope_theta * factor, head_dim) / factor ** (2 / head_dim)
    b = options.ntk_mixed_b
    a = torch.tensor(factor).log() / (head_dim / 2) ** b
    lambdas = (a * torch.arange(1, head_dim // 2 + 1).float() ** b).exp()  # (hd / 2,)
    return default_inverse_frequencies(options.rope_theta, head_dim) / lambdas


class RotaryAngles:
    """cos, sin (..., hd / 2) float32 per token position for each set of inverse frequencies a layer asks for by its
    key, computed on first use and cached for one forward.

    `frequencies(key, head_dim)` gives a key's (hd / 2,) inverse frequencies: by default the key is a base
    (ModernBERT's layers ask for theirs); `inverse_frequencies` takes a RopeOptions (GTE, NomicBERT).
    """

    def __init__(self, position_ids: torch.Tensor, head_dim: int, frequencies=default_inverse_frequencies):
        self.position_ids = position_ids  # (N,) packed or (B, T) padded
        self.head_dim = head_dim
        self.frequencies = frequencies
        self._tables = {}

    def __call__(self, key):
        if key not in self._tables:
            inv_freq = _on_device(self.frequencies, key, self.head_dim, self.position_ids.device)
            freqs = self.position_ids[..., None].float() * inv_freq  # (..., hd / 2)
            self._tables[key] = (freqs.cos(), freqs.sin())
        return self._tables[key]


@functools.lru_cache(maxsize=256)
def _on_device(frequencies, key, head_dim: int, device: torch.device) -> torch.Tensor:
    """The inverse frequencies, computed on the CPU once and kept on `device`: copying them from pageable host
    memory in every forward would make the host wait for the GPU each time (and fail CUDA-graph capture)."""
    return frequencies(key, head_dim).to(device)

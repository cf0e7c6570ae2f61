"""The RoPE parameters of a config.json: `rope_parameters` (transformers 5), else the older `rope_theta` +
`rope_scaling`, merged as transformers' standardize_rope_params merges them, read and checked for one family.

Each family says which rope types it runs, its default base and (NomicBERT's Hub spelling) another name for the base;
a rope type transformers knows but the family does not run is refused as unsupported, any other as unknown.
"""
import math
from dataclasses import dataclass

# Every rope_type transformers implements; the ones a family does not run are refused by name.
TRANSFORMERS_ROPE_TYPES = ("default", "linear", "dynamic", "yarn", "longrope", "llama3", "proportional")


@dataclass(frozen=True)
class RopeOptions:
    rope_theta: float  # RoPE base
    rope_type: str  # one of the family's rope types
    rope_factor: float  # `factor` (linear: positions divided by it; ntk: the NTK factor); 1.0 for default
    ntk_mixed_b: float | None  # ntk only: the mixed-NTK exponent b (None: fixed NTK)


def read_rope_options(raw: dict, source: str, family: str, rope_types: tuple, default_theta: float,
                      head_dim: int | None = None, base_alias: str | None = None) -> dict:
    """RopeOptions' fields from config.json `raw` for `family` (its name in messages), which runs `rope_types`.

    The base is rope_parameters' rope_theta, else the top-level rope_theta, else `base_alias` (NomicBERT's Hub
    `rotary_emb_base`), else `default_theta`. Every type but default needs a `factor` of at least 1 (transformers'
    rule); ntk (GTE's original code) may add `mixed_b` and needs a `head_dim` above 2.
    """
    from ...config import ConfigError, _float, _short

    params = raw.get("rope_parameters")
    what = "rope_parameters"
    if params is None:
        params, what = raw.get("rope_scaling") or {}, "rope_scaling"
    if not isinstance(params, dict):
        raise ConfigError(f"{source}: {what} must be an object, got {_short(params)}")
    if any(isinstance(value, dict) for value in params.values()):  # transformers' per-layer-type form
        raise ConfigError(f"{source}: {what} per layer type is not supported: {family} has one RoPE for every layer, "
                          f"got {_short(params)}")
    partial = params.get("partial_rotary_factor", raw.get("partial_rotary_factor", 1.0))
    if partial != 1.0:
        raise ConfigError(f"{source}: partial_rotary_factor {_short(partial)} is not supported: {family} rotates the "
                          "whole head")
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type not in rope_types and rope_type in TRANSFORMERS_ROPE_TYPES:
        raise ConfigError(f"{source}: {what} rope_type {rope_type!r} is not supported; fastenc runs {family} with "
                          f"rope_type one of {rope_types}")
    if rope_type not in rope_types:
        raise ConfigError(f"{source}: unknown {what} rope_type {_short(rope_type)}; fastenc runs one of {rope_types}")
    theta_key, theta_from = "rope_theta", {"rope_theta": default_theta}
    for key, holder in (("rope_theta", params), ("rope_theta", raw), (base_alias, raw)):
        if key is not None and key in holder:
            theta_key, theta_from = key, holder
            break
    theta = _float(theta_from, theta_key, source)
    if not (math.isfinite(theta) and theta > 0):
        raise ConfigError(f"{source}: the RoPE base {theta_key} must be a positive number (and finite), got {theta}")
    factor = 1.0
    if rope_type != "default":
        factor = _float(params, "factor", source)
        if not (math.isfinite(factor) and factor >= 1.0):
            raise ConfigError(f"{source}: {what} factor must be a finite number >= 1, got {factor}")
    mixed_b = params.get("mixed_b") if rope_type == "ntk" else None
    if mixed_b is not None:
        mixed_b = _float(params, "mixed_b", source)
        if not mixed_b > 0:
            raise ConfigError(f"{source}: {what} mixed_b must be positive, got {mixed_b}")
    if rope_type == "ntk" and not (head_dim or 0) > 2:
        raise ConfigError(f"{source}: NTK RoPE scaling needs a head dimension above 2, got {head_dim}")
    return dict(rope_theta=theta, rope_type=rope_type, rope_factor=factor, ntk_mixed_b=mixed_b)

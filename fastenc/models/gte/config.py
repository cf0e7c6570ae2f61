"""GTE's own config.json options (RoPE base and scaling, logn attention scaling, the norm type), read and checked.

Two spellings exist. transformers 5 (`GteConfig`, model_type "gte") writes `rope_parameters`; the checkpoints'
original remote code (Alibaba-NLP/new-impl, model_type "new") writes `rope_theta`, `rope_scaling` ({"type": "ntk"}),
`logn_attention_scale`, `layer_norm_type`, `pack_qkv` and `unpad_inputs`, and many converted configs still carry
those keys. Both are read. transformers' GteModel ignores `logn_attention_scale`; fastenc applies it as the original
code does (the query of each sequence scaled by log(its length) / log(max_position_embeddings)), since a checkpoint
that sets it was trained so.
"""
from dataclasses import dataclass

# What transformers' GteConfig assumes for a field that config.json leaves out (default_theta 160000 for RoPE).
DEFAULTS = dict(
    vocab_size=250048, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", max_position_embeddings=8192, type_vocab_size=1, layer_norm_eps=1e-12, pad_token_id=1,
)
DEFAULT_THETA = 160_000.0
# rope_type -> what fastenc computes for it. "dynamic" is the default RoPE for every length up to
# max_position_embeddings (transformers rescales only beyond it, and fastenc takes no longer input); "ntk" is the
# original code's fixed (or, with mixed_b, mixed) NTK scaling, which transformers has no rope_type for.
ROPE_TYPES = ("default", "linear", "dynamic", "ntk")
# rope types transformers implements that fastenc does not run
_REFUSED_ROPE = ("yarn", "longrope", "llama3", "proportional")


@dataclass(frozen=True)
class GteOptions:
    rope_theta: float  # RoPE base
    rope_type: str  # one of ROPE_TYPES
    rope_factor: float  # linear: positions divided by it; ntk: the NTK factor; 1.0 otherwise
    ntk_mixed_b: float | None  # ntk only: the mixed-NTK exponent b (None: fixed NTK)
    logn_attention_scale: bool  # scale each sequence's queries by log(length) / log(logn_length)
    logn_clip1: bool  # ... but never below 1 (logn_attention_clip1)
    logn_length: int  # the training length the logn scale is relative to: max_position_embeddings


def read_fields(raw: dict, source: str) -> dict:
    """EncoderConfig's fields (with `gte`: the GteOptions) from a GTE config.json `raw`, whose missing fields are
    already filled from DEFAULTS."""
    from ...config import ConfigError, _bert_fields, _int, _short

    hidden, heads = _int(raw, "hidden_size", source), _int(raw, "num_attention_heads", source)
    if heads > 0 and hidden % heads == 0 and (hidden // heads) % 2:
        raise ConfigError(f"{source}: RoPE needs an even head dimension, got hidden_size {hidden} / "
                          f"num_attention_heads {heads} = {hidden // heads}")
    if raw.get("head_dim") not in (None, hidden // max(heads, 1)):
        raise ConfigError(f"{source}: head_dim {_short(raw['head_dim'])} is not supported; fastenc runs "
                          f"head_dim = hidden_size / num_attention_heads = {hidden // max(heads, 1)}")
    for key, allowed in (("position_embedding_type", "rope"), ("layer_norm_type", "layer_norm")):
        if raw.get(key, allowed) != allowed:
            raise ConfigError(f"{source}: {key} {_short(raw[key])} is not supported; fastenc runs GTE with "
                              f"{key} {allowed!r}, as transformers' GteModel does")
    for key in ("pack_qkv", "unpad_inputs", "use_memory_efficient_attention", "logn_attention_scale",
                "logn_attention_clip1"):
        if not isinstance(raw.get(key, False), bool):  # layout / kernel choices of the original code, or logn
            raise ConfigError(f"{source}: {key} must be true or false, got {_short(raw[key])}")
    max_positions = _int(raw, "max_position_embeddings", source)
    options = GteOptions(**_rope(raw, source, hidden // max(heads, 1)),
                         logn_attention_scale=raw.get("logn_attention_scale", False),
                         logn_clip1=raw.get("logn_attention_clip1", False), logn_length=max_positions)
    if options.logn_attention_scale and max_positions < 2:
        raise ConfigError(f"{source}: logn_attention_scale divides by log(max_position_embeddings), which is "
                          f"{max_positions}: it must be at least 2")
    # The shared fields carry BERT's names; BERT's reader refuses any position_embedding_type but "absolute",
    # which GTE's ("rope", checked above) is not, so it reads the config without that key.
    shared = _bert_fields({k: v for k, v in raw.items() if k != "position_embedding_type"}, source)
    return dict(shared, gte=options)


def _rope(raw: dict, source: str, head_dim: int) -> dict:
    """rope_theta / rope_type / rope_factor / ntk_mixed_b from `rope_parameters` (transformers 5) or the older
    `rope_theta` + `rope_scaling`, merged as transformers' standardize_rope_params merges them."""
    from ...config import ConfigError, _float, _short

    params = raw.get("rope_parameters")
    if params is None:
        params = raw.get("rope_scaling") or {}
        what = "rope_scaling"
    else:
        what = "rope_parameters"
    if not isinstance(params, dict):
        raise ConfigError(f"{source}: {what} must be an object, got {_short(params)}")
    if params.get("partial_rotary_factor", 1.0) != 1.0:
        raise ConfigError(f"{source}: {what} partial_rotary_factor {_short(params['partial_rotary_factor'])} is not "
                          "supported: GTE rotates the whole head")
    if "full_attention" in params or "sliding_attention" in params:
        raise ConfigError(f"{source}: {what} per layer type is not supported: GTE has one RoPE for every layer")
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type in _REFUSED_ROPE:
        raise ConfigError(f"{source}: {what} rope_type {rope_type!r} is not supported; fastenc runs GTE with "
                          f"rope_type one of {ROPE_TYPES}")
    if rope_type not in ROPE_TYPES:
        raise ConfigError(f"{source}: unknown {what} rope_type {_short(rope_type)}; fastenc runs one of {ROPE_TYPES}")
    theta_from = params if "rope_theta" in params else raw if "rope_theta" in raw else {"rope_theta": DEFAULT_THETA}
    theta = _float(theta_from, "rope_theta", source)
    if not theta > 0 or theta == float("inf"):
        raise ConfigError(f"{source}: rope_theta must be a positive finite number, got {theta}")
    factor = 1.0
    if rope_type != "default":
        factor = _float(params, "factor", source)
        if not factor >= 1.0 or factor == float("inf"):
            raise ConfigError(f"{source}: {what} factor must be a finite number >= 1, got {factor}")
    mixed_b = params.get("mixed_b") if rope_type == "ntk" else None
    if mixed_b is not None:
        mixed_b = _float(params, "mixed_b", source)
        if not mixed_b > 0:
            raise ConfigError(f"{source}: {what} mixed_b must be positive, got {mixed_b}")
    if rope_type == "ntk" and head_dim <= 2:
        raise ConfigError(f"{source}: NTK RoPE scaling needs a head dimension above 2, got {head_dim}")
    return dict(rope_theta=theta, rope_type=rope_type, rope_factor=factor, ntk_mixed_b=mixed_b)

"""GTE's own config.json options (RoPE base and scaling, logn attention scaling, the norm type), read and checked.

Two spellings exist. transformers 5 (`GteConfig`, model_type "gte") writes `rope_parameters`; the checkpoints'
original remote code (Alibaba-NLP/new-impl, model_type "new") writes `rope_theta`, `rope_scaling` ({"type": "ntk"}),
`logn_attention_scale`, `layer_norm_type`, `pack_qkv` and `unpad_inputs`, and many converted configs still carry
those keys. Both are read. transformers' GteModel ignores `logn_attention_scale`; fastenc applies it as the original
code does (the query of each sequence scaled by log(its length) / log(max_position_embeddings)), since a checkpoint
that sets it was trained so.
"""
from dataclasses import dataclass

from ..rope.config import RopeOptions, read_rope_options

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


@dataclass(frozen=True)
class GteOptions(RopeOptions):  # the RoPE (rope_type one of ROPE_TYPES), then the logn scale
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
    rope = read_rope_options(raw, source, "GTE", ROPE_TYPES, DEFAULT_THETA, head_dim=hidden // max(heads, 1))
    options = GteOptions(**rope, logn_attention_scale=raw.get("logn_attention_scale", False),
                         logn_clip1=raw.get("logn_attention_clip1", False), logn_length=max_positions)
    if options.logn_attention_scale and max_positions < 2:
        raise ConfigError(f"{source}: logn_attention_scale divides by log(max_position_embeddings), which is "
                          f"{max_positions}: it must be at least 2")
    # The shared fields carry BERT's names; BERT's reader refuses any position_embedding_type but "absolute",
    # which GTE's ("rope", checked above) is not, so it reads the config without that key.
    shared = _bert_fields({k: v for k, v in raw.items() if k != "position_embedding_type"}, source)
    return dict(shared, gte=options)

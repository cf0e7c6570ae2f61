"""ModernBERT's own options, read from its `config.json` into a typed dataclass that `EncoderConfig` carries.

Two spellings exist: checkpoints on the Hub (transformers 4.x) write `global_attn_every_n_layers`,
`global_rope_theta` and `local_rope_theta`; transformers 5 writes `layer_types` and `rope_parameters`. Both are read,
the newer one first, as transformers' `ModernBertConfig` reads them.
"""
from dataclasses import dataclass

# What transformers' ModernBertConfig assumes for a field that config.json leaves out.
DEFAULTS = dict(
    vocab_size=50368, hidden_size=768, intermediate_size=1152, num_hidden_layers=22, num_attention_heads=12,
    hidden_activation="gelu", max_position_embeddings=8192, norm_eps=1e-5, norm_bias=False, pad_token_id=50283,
    attention_bias=False, local_attention=128, mlp_bias=False, decoder_bias=True, classifier_pooling="cls",
    classifier_bias=False, classifier_activation="gelu", global_attn_every_n_layers=3, global_rope_theta=160_000.0,
    local_rope_theta=10_000.0,
)
POOLINGS = ("cls", "mean")
LAYER_TYPES = ("full_attention", "sliding_attention")
_BIASES = ("norm_bias", "attention_bias", "mlp_bias", "decoder_bias", "classifier_bias")


@dataclass(frozen=True)
class ModernBertOptions:
    sliding_layers: tuple  # per layer: True where it attends within a window, False where it attends globally
    window: int  # a sliding layer's query attends to keys at most `window` positions away (local_attention // 2)
    global_rope_theta: float  # RoPE base of the global layers
    local_rope_theta: float  # RoPE base of the sliding-window layers
    norm_bias: bool  # LayerNorms carry a bias
    attention_bias: bool  # Wqkv and Wo carry biases
    mlp_bias: bool  # Wi and Wo of the GeGLU feed-forward carry biases
    decoder_bias: bool  # the MLM decoder carries a bias
    classifier_bias: bool  # the prediction head's dense layer carries a bias
    classifier_activation: str  # activation of the prediction head (MLM and classifiers)
    classifier_pooling: str  # sequence classifier input: "cls" (first token) or "mean" (of the real tokens)

    def rope_theta(self, layer: int) -> float:
        return self.local_rope_theta if self.sliding_layers[layer] else self.global_rope_theta


def read_fields(raw: dict, source: str) -> dict:
    """EncoderConfig's fields (with `modernbert`: the ModernBertOptions) from a ModernBERT config.json `raw`, whose
    missing fields are already filled from DEFAULTS."""
    from ...config import ConfigError, _float, _int, _str

    layers = _int(raw, "num_hidden_layers", source)
    types = raw.get("layer_types")
    if types is None:
        every = _int(raw, "global_attn_every_n_layers", source)
        if every < 1:
            raise ConfigError(f"{source}: global_attn_every_n_layers must be at least 1, got {every}")
        types = ["sliding_attention" if i % every else "full_attention" for i in range(max(layers, 0))]
    if not isinstance(types, list) or any(t not in LAYER_TYPES for t in types) or len(types) != layers:
        raise ConfigError(f"{source}: layer_types must list one of {LAYER_TYPES} for each of the {layers} layers, "
                          f"got {str(types)[:80]}")
    hidden, heads = _int(raw, "hidden_size", source), _int(raw, "num_attention_heads", source)
    if heads > 0 and hidden % heads == 0 and (hidden // heads) % 2:
        raise ConfigError(f"{source}: RoPE needs an even head dimension, got hidden_size {hidden} / "
                          f"num_attention_heads {heads} = {hidden // heads}")
    local_attention = _int(raw, "local_attention", source)
    if local_attention < 0:
        raise ConfigError(f"{source}: local_attention must be >= 0, got {local_attention}")
    thetas = {}
    params = raw.get("rope_parameters") or {}
    if not isinstance(params, dict):
        raise ConfigError(f"{source}: rope_parameters must be an object, got {str(params)[:60]}")
    scaling = raw.get("rope_scaling")
    for kind, old_name in (("full_attention", "global_rope_theta"), ("sliding_attention", "local_rope_theta")):
        entry = params.get(kind) or {}
        rope_type = entry.get("rope_type", entry.get("type", "default"))
        if rope_type != "default" or scaling:
            raise ConfigError(f"{source}: RoPE scaling ({kind}: rope_type {rope_type!r}, rope_scaling {scaling!r}) "
                              "is not supported; fastenc runs ModernBERT's default RoPE")
        thetas[kind] = _float(entry, "rope_theta", source) if "rope_theta" in entry else _float(raw, old_name, source)
        if not thetas[kind] > 0:
            raise ConfigError(f"{source}: the RoPE base of {kind} layers must be positive, got {thetas[kind]}")
    pooling = _str(raw, "classifier_pooling", source)
    if pooling not in POOLINGS:
        raise ConfigError(f"{source}: classifier_pooling must be one of {POOLINGS}, got {pooling!r}")
    options = ModernBertOptions(
        sliding_layers=tuple(t == "sliding_attention" for t in types),
        # No input is longer than max_position_embeddings: a wider window is global, and stays a small int.
        window=min(local_attention // 2, _int(raw, "max_position_embeddings", source)),
        global_rope_theta=thetas["full_attention"],
        local_rope_theta=thetas["sliding_attention"],
        **{key: _bool(raw, key, source) for key in _BIASES},
        classifier_activation=_str(raw, "classifier_activation", source),
        classifier_pooling=pooling,
    )
    return dict(
        vocab_size=_int(raw, "vocab_size", source),
        hidden_size=_int(raw, "hidden_size", source),
        num_layers=layers,
        num_heads=_int(raw, "num_attention_heads", source),
        intermediate_size=_int(raw, "intermediate_size", source),
        hidden_act=_str(raw, "hidden_activation", source),
        max_position_embeddings=_int(raw, "max_position_embeddings", source),
        layer_norm_eps=_float(raw, "norm_eps", source),
        type_vocab_size=0,
        modernbert=options,
    )


def _bool(raw: dict, key: str, source: str) -> bool:
    from ...config import ConfigError

    value = raw.get(key)
    if not isinstance(value, bool):
        raise ConfigError(f"{source}: {key} must be true or false, got {str(value)[:60]}")
    return value

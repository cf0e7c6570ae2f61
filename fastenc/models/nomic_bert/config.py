"""NomicBERT's options, read from its `config.json` into a typed dataclass that `EncoderConfig` carries.

Two spellings exist: transformers 5's `NomicBertConfig` (BERT's names, `rope_parameters`), and the Hub's remote-code
config of nomic-ai/nomic-embed-text-v1 / v1.5 and nomic-bert-2048 (`n_embd`, `n_layer`, `rotary_emb_base`,
`activation_function: "swiglu"`, ...). transformers' names win where both are present; a Hub name is read only where
transformers' is absent. Options of the Hub's code that transformers' nomic_bert does not run (partial or interleaved
rotary, biases, pre-norm, parallel blocks, RMSNorm, mixture-of-experts layers, RoPE types other than default, linear
and dynamic) are refused with a ConfigError naming the field.
"""
from dataclasses import dataclass

from ..rope.config import RopeOptions, read_rope_options

# transformers' NomicBertConfig defaults, each with the Hub config's name for the same thing (None: no other name).
FIELDS = {  # our reading of config.json: transformers' name -> (Hub name, default)
    "vocab_size": (None, 30528),
    "hidden_size": ("n_embd", 768),
    "num_hidden_layers": ("n_layer", 12),
    "num_attention_heads": ("n_head", 12),
    "intermediate_size": ("n_inner", 3072),
    "max_position_embeddings": ("n_positions", 2048),
    "type_vocab_size": (None, 2),
    "layer_norm_eps": ("layer_norm_epsilon", 1e-12),
}
DEFAULT_THETA = 1000.0  # transformers' NomicBertConfig.default_theta, the base of every Nomic checkpoint
# The Hub's gated activations (contrastors' NomicBertGatedMLP: fc2(fc11(x) * act(fc12(x)))) as `hidden_act` names.
HUB_ACTIVATIONS = {"swiglu": "silu", "geglu": "gelu", "glu": "sigmoid"}
# RoPE types whose angles fastenc computes: "dynamic" (NTK) rescales only inputs longer than max_position_embeddings,
# which fastenc never runs, so it is the default RoPE here; "linear" divides the frequencies by `factor`.
ROPE_TYPES = ("default", "linear", "dynamic")
# Hub options transformers' nomic_bert has no code for: field -> the value it runs (anything else is refused).
_HUB_FIXED = {"rotary_emb_fraction": 1.0, "rotary_emb_interleaved": False, "rotary_emb_scale_base": None,
              "rotary_scaling_factor": None, "qkv_proj_bias": False, "mlp_fc1_bias": False, "mlp_fc2_bias": False,
              "prenorm": False, "parallel_block": False, "use_rms_norm": False, "causal": False,
              "scale_attn_by_inverse_layer_idx": False, "scale_attn_weights": True, "rotary_head_dim": False,
              "norm_mlp": False}
# Mixture-of-experts fields (nomic-embed-text-v2-moe): any non-zero value describes MoE layers.
_MOE_FIELDS = ("num_experts", "moe_every_n_layers", "moe_top_k")


@dataclass(frozen=True)
class NomicBertOptions(RopeOptions):
    """NomicBERT's RoPE (rope_type one of ROPE_TYPES): all its config sets apart from the shared fields."""


def read_fields(raw: dict, source: str) -> dict:
    """EncoderConfig's fields (with `nomic_bert`: the NomicBertOptions) from a NomicBERT config.json `raw`."""
    from ...config import ConfigError, _float, _int

    for key in _MOE_FIELDS:
        if raw.get(key):
            raise ConfigError(f"{source}: {key} is {raw[key]!r}: mixture-of-experts NomicBERT layers (nomic-embed-text-"
                              "v2-moe) are not supported; fastenc runs NomicBERT's dense layers")
    for key, runs in _HUB_FIXED.items():
        if key in raw and raw[key] != runs:
            raise ConfigError(f"{source}: {key} is {raw[key]!r}; transformers' nomic_bert (and fastenc) runs only "
                              f"{key} = {runs!r}")
    values = {}
    for name, (hub_name, default) in FIELDS.items():
        key = hub_name if name not in raw and hub_name in raw else name  # the name the error message shows
        read = _float if name == "layer_norm_eps" else _int
        values[name] = read({key: raw.get(key, default)}, key, source)
    if values["type_vocab_size"] < 1:
        raise ConfigError(f"{source}: type_vocab_size must be at least 1 (NomicBERT always adds token-type "
                          f"embeddings), got {values['type_vocab_size']}")
    hidden_act = _activation(raw, source)
    hidden, heads = values["hidden_size"], values["num_attention_heads"]
    if raw.get("num_heads_kv", heads) != heads:
        raise ConfigError(f"{source}: num_heads_kv {raw['num_heads_kv']!r} differs from the {heads} attention heads: "
                          "grouped key/value heads are not part of transformers' nomic_bert")
    # transformers' head_dim (saved as hidden_size / heads unless set apart from it): q/k/v project to heads x head_dim
    quotient = hidden // heads if heads > 0 and hidden % heads == 0 else None
    head_dim = raw.get("head_dim", quotient)
    if head_dim is not None:  # None: hidden_size does not divide and no head_dim; EncoderConfig says so
        head_dim = _int({"head_dim": head_dim}, "head_dim", source)
        if head_dim < 1 or head_dim % 2:
            raise ConfigError(f"{source}: RoPE needs an even, positive head dimension, got head_dim {head_dim}")
    # RoPE's base and factor from rope_parameters, else the legacy rope_scaling / rope_theta, else the Hub's
    # rotary_emb_base, as transformers' config standardises them
    options = NomicBertOptions(**read_rope_options(raw, source, "NomicBERT", ROPE_TYPES, DEFAULT_THETA,
                                                   head_dim=head_dim, base_alias="rotary_emb_base"))
    return dict(
        vocab_size=values["vocab_size"],
        hidden_size=hidden,
        num_layers=values["num_hidden_layers"],
        num_heads=heads,
        intermediate_size=values["intermediate_size"],
        hidden_act=hidden_act,
        max_position_embeddings=values["max_position_embeddings"],
        layer_norm_eps=values["layer_norm_eps"],
        type_vocab_size=values["type_vocab_size"],
        head_size=0 if head_dim in (None, quotient) else head_dim,
        nomic_bert=options,
    )


def _activation(raw: dict, source: str) -> str:
    """`hidden_act` (transformers), else the Hub's `activation_function` (gated names only), else SiLU."""
    from ...config import ConfigError, _str
    from ...ops.reference import ACTIVATIONS

    if "hidden_act" in raw or "activation_function" not in raw:
        act = _str({"hidden_act": raw.get("hidden_act", "silu")}, "hidden_act", source)
        key = "hidden_act"
    else:
        hub = _str(raw, "activation_function", source)
        if hub not in HUB_ACTIVATIONS:
            raise ConfigError(f"{source}: activation_function {hub!r} is not a gated MLP; transformers' nomic_bert "
                              f"runs the gated ones, {sorted(HUB_ACTIVATIONS)}")
        act, key = HUB_ACTIVATIONS[hub], "activation_function"
    if act not in ACTIVATIONS:
        raise ConfigError(f"{source}: {key} {act!r} is not supported; supported: {sorted(ACTIVATIONS)}")
    return act

"""DeBERTa-v2/v3's own config.json fields (relative attention, position buckets, the conv layer), read and checked.

The shared fields land in fastenc.config.EncoderConfig as for BERT; what only DeBERTa has is one typed
`DebertaSettings` value, `config.deberta`. Defaults (DebertaV2Config's and the modelling code's `getattr`s) are
in fastenc.config.DEFAULTS.
"""
from dataclasses import dataclass

from ...config import ConfigError, _float, _int, _short, _str

POSITION_TERMS = ("c2p", "p2c")  # the relative-position terms transformers computes; others ("p2p") it ignores


@dataclass(frozen=True)
class DebertaSettings:
    relative_attention: bool  # add the c2p / p2c terms to the attention scores
    pos_att_type: tuple  # which terms: a subset of POSITION_TERMS, in any order
    position_buckets: int  # > 0: distances are log-bucketed into 2 * position_buckets slots; else clamped
    max_relative_positions: int  # largest distance told apart (max_position_embeddings when config says < 1)
    share_att_key: bool  # positions are projected by the content query/key matrices instead of their own
    norm_rel_ebd: bool  # LayerNorm on the relative embedding table before every use
    position_biased_input: bool  # add absolute position embeddings to the word embeddings
    conv_kernel_size: int  # 0: no conv; else a Conv1d over the embeddings, added after the first layer
    conv_groups: int
    conv_act: str
    pooler_hidden_act: str  # ContextPooler activation (sequence classification)
    legacy_mlm_head: bool  # transformers' `legacy`: cls.predictions (dense to embedding_size) vs lm_predictions

    @property
    def span(self) -> int:
        """Relative positions kept on each side: the relative embedding table has 2 * span rows."""
        return self.position_buckets if self.position_buckets > 0 else self.max_relative_positions

    @property
    def scale_factor(self) -> int:
        """Scores are scaled by 1 / sqrt(head_dim * scale_factor): one for content, one per position term named
        in pos_att_type (counted even when relative_attention is off, as transformers does)."""
        return 1 + len(self.pos_att_type)

    @property
    def terms(self) -> tuple:
        """The position terms that actually run."""
        return self.pos_att_type if self.relative_attention else ()


def _bool(raw: dict, key: str, source: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{source}: {key} must be true or false, got {_short(value)}")
    return value


def _pos_att_type(raw: dict, source: str) -> tuple:
    value = raw.get("pos_att_type") or []
    if isinstance(value, str):  # "p2c|c2p", as older configs spell it
        value = [part.strip() for part in value.lower().split("|")]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: pos_att_type must be a list like ['c2p', 'p2c'] or 'c2p|p2c', got "
                          f"{_short(value)}")
    return tuple(term for term in POSITION_TERMS if term in value)


def deberta_fields(raw: dict, source: str) -> dict:
    """EncoderConfig's fields (and `deberta`) from a DeBERTa-v2 config.json already merged with the defaults."""
    hidden = _int(raw, "hidden_size", source)
    heads = _int(raw, "num_attention_heads", source)
    max_positions = _int(raw, "max_position_embeddings", source)
    head_size = raw.get("attention_head_size")
    if head_size is not None and heads and _int(raw, "attention_head_size", source) * heads != hidden:
        raise ConfigError(f"{source}: attention_head_size {head_size} x {heads} heads differs from hidden_size "
                          f"{hidden}; fastenc runs DeBERTa only with head_dim = hidden_size / num_attention_heads")
    if raw.get("pooler_hidden_size", hidden) != hidden:
        raise ConfigError(f"{source}: pooler_hidden_size {raw['pooler_hidden_size']!r} differs from hidden_size "
                          f"{hidden} (transformers' classifier reads hidden_size features)")
    max_relative = _int(raw, "max_relative_positions", source)
    buckets = _int(raw, "position_buckets", source)
    conv = _int(raw, "conv_kernel_size", source)
    if conv < 0 or (conv and conv % 2 == 0):
        raise ConfigError(f"{source}: conv_kernel_size must be 0 (no conv) or odd, got {conv}")
    norm = raw.get("norm_rel_ebd", "none")
    if not isinstance(norm, str):
        raise ConfigError(f"{source}: norm_rel_ebd must be a string such as 'layer_norm', got {_short(norm)}")
    settings = DebertaSettings(
        relative_attention=_bool(raw, "relative_attention", source, False),
        pos_att_type=_pos_att_type(raw, source),
        position_buckets=buckets,
        max_relative_positions=max_relative if max_relative >= 1 else max_positions,
        share_att_key=_bool(raw, "share_att_key", source, False),
        norm_rel_ebd="layer_norm" in [part.strip() for part in norm.lower().split("|")],
        position_biased_input=_bool(raw, "position_biased_input", source, True),
        conv_kernel_size=conv,
        conv_groups=_int(raw, "conv_groups", source),
        conv_act=_str(raw, "conv_act", source),
        pooler_hidden_act=_str(raw, "pooler_hidden_act", source),
        legacy_mlm_head=_bool(raw, "legacy", source, True),
    )
    if settings.span < 1:
        raise ConfigError(f"{source}: position_buckets {buckets} / max_relative_positions {max_relative} leave no "
                          "relative position")
    if conv and (settings.conv_groups < 1 or hidden % settings.conv_groups):
        raise ConfigError(f"{source}: conv_groups {settings.conv_groups} must divide hidden_size {hidden}")
    embedding_size = _int(raw, "embedding_size", source) if raw.get("embedding_size") is not None else hidden
    if not settings.legacy_mlm_head and embedding_size != hidden:
        raise ConfigError(f"{source}: legacy=false needs embedding_size == hidden_size ({embedding_size} != {hidden}):"
                          " its MLM head multiplies hidden states by the word embeddings")
    return dict(
        vocab_size=_int(raw, "vocab_size", source),
        hidden_size=hidden,
        num_layers=_int(raw, "num_hidden_layers", source),
        num_heads=heads,
        intermediate_size=_int(raw, "intermediate_size", source),
        hidden_act=_str(raw, "hidden_act", source),
        max_position_embeddings=max_positions,
        layer_norm_eps=_float(raw, "layer_norm_eps", source),
        type_vocab_size=_int(raw, "type_vocab_size", source),
        embedding_size=embedding_size,
        deberta=settings,
    )


"""MPNet's own config.json fields, read and checked: the shared fields land in fastenc.config.EncoderConfig as for
BERT, the relative position bias's in one typed `MPNetSettings` value, `config.mpnet`. Defaults (MPNetConfig's) are
in fastenc.config.DEFAULTS."""
from dataclasses import dataclass

from ...config import ConfigError, _float, _int, _str

# transformers' MPNetEncoder buckets distances with these fixed values, whatever relative_attention_num_buckets says
# (that field only sizes the table): 32 buckets, the last shared by distances from 128 on.
NUM_BUCKETS = 32
MAX_DISTANCE = 128
# transformers' MPNetEmbeddings numbers positions from a fixed padding index of 1 (not pad_token_id), as RoBERTa.
PADDING_IDX = 1


@dataclass(frozen=True)
class MPNetSettings:
    relative_attention_num_buckets: int  # rows of the (rows, heads) bias table; buckets 0..NUM_BUCKETS - 1 are read
    num_buckets: int = NUM_BUCKETS
    max_distance: int = MAX_DISTANCE


def mpnet_fields(raw: dict, source: str) -> dict:
    """EncoderConfig's fields (and `mpnet`) from an MPNet config.json already merged with the defaults."""
    rows = _int(raw, "relative_attention_num_buckets", source)
    if rows < NUM_BUCKETS:
        raise ConfigError(f"{source}: relative_attention_num_buckets is {rows}, but transformers' MPNet reads "
                          f"buckets 0..{NUM_BUCKETS - 1} of that table (it always buckets distances into "
                          f"{NUM_BUCKETS}): a smaller table cannot run")
    return dict(
        vocab_size=_int(raw, "vocab_size", source),
        hidden_size=_int(raw, "hidden_size", source),
        num_layers=_int(raw, "num_hidden_layers", source),
        num_heads=_int(raw, "num_attention_heads", source),
        intermediate_size=_int(raw, "intermediate_size", source),
        hidden_act=_str(raw, "hidden_act", source),
        max_position_embeddings=_int(raw, "max_position_embeddings", source),
        layer_norm_eps=_float(raw, "layer_norm_eps", source),
        type_vocab_size=0,  # MPNet has no token types
        mpnet=MPNetSettings(relative_attention_num_buckets=rows),
    )

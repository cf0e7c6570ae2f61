"""MPNet's own config.json fields, read and checked: the shared fields land in fastenc.config.EncoderConfig as for
BERT, the relative position bias's in one typed `MPNetSettings` value, `config.mpnet`. Defaults (MPNetConfig's) are
in fastenc.config.DEFAULTS."""
from dataclasses import dataclass

from ...config import MAX_WIDTH, ConfigError, _bert_fields, _int

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
    if rows > MAX_WIDTH:
        raise ConfigError(f"{source}: relative_attention_num_buckets is {rows}: it must lie in [{NUM_BUCKETS}, "
                          f"{MAX_WIDTH}]")
    if rows < NUM_BUCKETS:
        raise ConfigError(f"{source}: relative_attention_num_buckets is {rows}, but transformers' MPNet reads "
                          f"buckets 0..{NUM_BUCKETS - 1} of that table (it always buckets distances into "
                          f"{NUM_BUCKETS}): a smaller table cannot run")
    # Every other field is spelled as BERT's; MPNet has no token types.
    return {**_bert_fields({**raw, "type_vocab_size": 0}, source),
            "mpnet": MPNetSettings(relative_attention_num_buckets=rows)}

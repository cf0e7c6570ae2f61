"""T5-style relative position bias (MPNet): log-bucketed key - query distances index a (buckets, heads) table that
is added to every layer's attention scores. The one reference of the buckets: the CPU path, the Triton kernel's
bucket boundaries and the tests all use these functions."""
import functools
import math
from dataclasses import dataclass

import torch


def relative_position_bucket(relative_position: torch.Tensor, num_buckets: int = 32,
                             max_distance: int = 128) -> torch.Tensor:
    """Bucket of each key - query distance, as transformers' MPNet (and T5, bidirectional) computes it.

    Half the buckets are for keys after the query, half for keys at or before it; in each half the first
    `num_buckets // 4` distances have a bucket each, longer ones share log-spaced buckets up to `max_distance`, beyond
    which all distances share the last. Float32 logarithms, truncated, exactly as transformers rounds them.
    """
    half = num_buckets // 2
    n = -relative_position  # query - key
    bucket = (n < 0).to(torch.long) * half  # keys after the query use the upper half
    n = n.abs()
    max_exact = half // 2
    large = max_exact + (
        torch.log(n.float() / max_exact) / math.log(max_distance / max_exact) * (half - max_exact)
    ).to(torch.long)
    large = torch.clamp(large, max=half - 1)
    return bucket + torch.where(n < max_exact, n, large)


@functools.lru_cache(maxsize=16)
def bucket_bounds(num_buckets: int, max_distance: int) -> tuple:
    """The distances |key - query| at which the log buckets start: bucket(d) = max_exact + (number of bounds <= d)
    for d >= max_exact, the same in both halves. Read from `relative_position_bucket` itself, so a kernel that counts
    bounds gets its buckets bit for bit (a float32 log computed elsewhere may round differently exactly at a bucket
    boundary: 2 * log2(16 / 8) is 2 in real numbers)."""
    half = num_buckets // 2
    max_exact = half // 2
    # Buckets stop changing once the last one is reached, at most at max_distance (the clamp); search a little past.
    limit = max(max_distance, max_exact) * 2 + 2
    distance = torch.arange(limit)
    buckets = relative_position_bucket(-distance, num_buckets, max_distance)  # keys before the query: lower half
    bounds = [int(d) for d in range(max_exact + 1, limit) if buckets[d] > buckets[d - 1]]
    if max_exact < limit and max_exact > 0 and int(buckets[max_exact]) != max_exact:
        raise AssertionError("relative_position_bucket: the first log bucket is not max_exact")  # formula changed
    return tuple(bounds)


@dataclass(frozen=True, eq=False)
class RelativeBias:
    """What the attention ops need to add MPNet's bias: the (rows, heads) table (rows >= num_buckets, read at the
    bucket of each key - query distance) and the bucketing's two parameters."""

    table: torch.Tensor  # (rows, nh): transformers' relative_attention_bias.weight
    num_buckets: int = 32
    max_distance: int = 128

    @property
    def max_exact(self) -> int:
        return self.num_buckets // 4

    @property
    def bounds(self) -> tuple:
        return bucket_bounds(self.num_buckets, self.max_distance)


def dense_bias(bias: RelativeBias, num_queries: int, num_keys: int, dtype=None) -> torch.Tensor:
    """(nh, Tq, Tk) bias of query i (row) and key j (column), in the table's dtype unless `dtype` is given. A T x T
    tensor: only for the CPU path and the tests; the Triton kernel reads the table itself."""
    device = bias.table.device
    query = torch.arange(num_queries, device=device)[:, None]
    key = torch.arange(num_keys, device=device)[None, :]
    buckets = relative_position_bucket(key - query, bias.num_buckets, bias.max_distance)  # (Tq, Tk)
    values = bias.table[buckets]  # (Tq, Tk, nh)
    values = values.permute(2, 0, 1)  # (nh, Tq, Tk)
    return values if dtype is None else values.to(dtype)

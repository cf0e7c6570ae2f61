"""T5-style relative position bias (MPNet): log-bucketed key - query distances index a (buckets, heads) table that
is added to every layer's attention scores. The one reference of the buckets: the CPU path, the Triton kernel's
bias by distance and the tests all use these functions."""
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


def distance_buckets(num_buckets: int, max_distance: int) -> torch.Tensor:
    """(2 * radius + 1,) bucket of each key - query distance -radius .. radius, radius = max_distance (from there on
    every farther distance shares the last bucket of its direction), read from `relative_position_bucket`
    itself, so a kernel indexing by distance gets its buckets bit for bit (no float32 log of its own that could round
    otherwise at a bucket boundary). A new tensor each call. Raises ValueError unless max_distance > num_buckets // 4:
    otherwise the log buckets divide by log(max_distance / max_exact) <= 0 (transformers cannot run them either)."""
    return _distance_buckets(num_buckets, max_distance).clone()


@functools.lru_cache(maxsize=16)
def _distance_buckets(num_buckets: int, max_distance: int) -> torch.Tensor:
    max_exact = num_buckets // 4
    if max_distance <= max_exact:
        raise ValueError(f"relative position buckets need max_distance > num_buckets // 4 = {max_exact}, got "
                         f"num_buckets {num_buckets}, max_distance {max_distance}")
    radius = max_distance
    # Made once, on the host, whatever the default device, and as plain tensors even when first asked for inside
    # inference mode (the cached copies also serve autograd callers).
    with torch.inference_mode(False):
        distance = torch.arange(-2 * radius - 2, 2 * radius + 3, device="cpu")
        buckets = relative_position_bucket(distance, num_buckets, max_distance)
        for side in (distance >= radius, distance <= -radius):  # each side's last bucket, from the radius on
            if not bool((buckets[side] == buckets[side][0]).all()):
                raise AssertionError("relative_position_bucket no longer settles at max_distance")  # formula changed
        if not bool(((buckets >= 0) & (buckets < num_buckets)).all()):
            raise AssertionError("relative_position_bucket left [0, num_buckets)")
        return buckets[radius + 2:3 * radius + 3]  # distances -radius .. radius


@functools.lru_cache(maxsize=64)
def _distance_buckets_on(num_buckets: int, max_distance: int, device: torch.device) -> torch.Tensor:
    """The buckets by distance kept on `device`: copying from pageable host memory in every forward would make the
    host wait for the GPU (and fail CUDA-graph capture)."""
    with torch.inference_mode(False):
        return _distance_buckets(num_buckets, max_distance).to(device)


@dataclass(frozen=True, eq=False)
class RelativeBias:
    """What the attention ops need to add MPNet's bias: the (rows, heads) table (rows >= num_buckets, read at the
    bucket of each key - query distance) and the bucketing's two parameters. Make one per forward (the encoder
    does): `by_distance` is gathered from the table on first use and then read by every layer, so a table changed
    in place afterwards is not seen by the same RelativeBias."""

    table: torch.Tensor  # (rows, nh): transformers' relative_attention_bias.weight
    num_buckets: int = 32
    max_distance: int = 128

    @property
    def radius(self) -> int:
        """Distances at least this far share their side's last bucket (the clamp at max_distance)."""
        return self.max_distance

    @functools.cached_property
    def by_distance(self) -> torch.Tensor:
        """(nh, 2 * radius + 1), contiguous: head h's bias at key - query distance d in column d + radius, for
        |d| <= radius; a farther distance reads the end column of its side. Neighbouring keys of a tile read
        neighbouring columns. In the table's dtype and device."""
        buckets = _distance_buckets_on(self.num_buckets, self.max_distance, self.table.device)  # (2 * radius + 1,)
        return self.table.t()[:, buckets].contiguous()  # (nh, 2 * radius + 1)


def dense_bias(bias: RelativeBias, num_queries: int, num_keys: int, dtype=None) -> torch.Tensor:
    """(nh, Tq, Tk) bias of query i (row) and key j (column), in the table's dtype unless `dtype` is given. A T x T
    tensor: only for the CPU path and the tests; the Triton kernel reads `by_distance` itself."""
    device = bias.table.device
    query = torch.arange(num_queries, device=device)[:, None]
    key = torch.arange(num_keys, device=device)[None, :]
    column = (key - query).clamp(-bias.radius, bias.radius) + bias.radius  # (Tq, Tk)
    values = bias.by_distance[:, column]  # (nh, Tq, Tk)
    return values if dtype is None else values.to(dtype)

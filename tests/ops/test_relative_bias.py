"""fastenc.ops.relative_bias, the one reference of MPNet's buckets, against transformers' own MPNetEncoder."""
import pytest
import torch
from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

from fastenc.ops.relative_bias import RelativeBias, bucket_bounds, dense_bias, relative_position_bucket


@pytest.mark.parametrize("num_buckets,max_distance", [(32, 128), (16, 20), (8, 8), (4, 3), (64, 256)])
def test_buckets_and_bounds_are_transformers(num_buckets, max_distance):
    relative = torch.arange(-3 * max_distance - 5, 3 * max_distance + 5)  # key - query, both sides of the clamp
    want = MPNetEncoder.relative_position_bucket(relative, num_buckets, max_distance)
    assert torch.equal(relative_position_bucket(relative, num_buckets, max_distance), want)
    # What the Triton kernel computes: exact below max_exact, else max_exact + the bounds passed, upper half after.
    distance, max_exact = relative.abs(), num_buckets // 4
    counted = max_exact + sum((distance >= b).long() for b in bucket_bounds(num_buckets, max_distance))
    assert torch.equal(torch.where(distance < max_exact, distance, counted) + (relative > 0) * (num_buckets // 2),
                       want)


def test_dense_bias_is_transformers_position_bias():
    torch.manual_seed(0)
    config = type("Config", (), dict(num_attention_heads=3, num_hidden_layers=0, relative_attention_num_buckets=40))
    encoder = MPNetEncoder(config)
    x = torch.zeros(2, 150, 8)  # (B, T, H): only the shape is read
    want = encoder.compute_position_bias(x)  # (B, nh, T, T)
    ours = dense_bias(RelativeBias(encoder.relative_attention_bias.weight.detach()), 150, 150)  # (nh, T, T)
    assert torch.equal(ours, want[0]) and torch.equal(ours, want[1])
    assert dense_bias(RelativeBias(encoder.relative_attention_bias.weight.detach()), 5, 9).shape == (3, 5, 9)

"""fastenc.ops.relative_bias, the one reference of MPNet's buckets, against transformers' own MPNetEncoder."""
import pytest
import torch
from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

from fastenc.ops.relative_bias import RelativeBias, bias_radius, dense_bias, distance_buckets, relative_position_bucket


@pytest.mark.parametrize("num_buckets,max_distance", [(32, 128), (16, 20), (8, 8), (4, 3), (64, 256), (64, 16)])
def test_buckets_and_buckets_by_distance_are_transformers(num_buckets, max_distance):
    relative = torch.arange(-3 * max_distance - 5, 3 * max_distance + 5)  # key - query, both sides of the clamp
    want = MPNetEncoder.relative_position_bucket(relative, num_buckets, max_distance)
    assert torch.equal(relative_position_bucket(relative, num_buckets, max_distance), want)
    # What the Triton kernel reads: the bucket at the distance clamped to +-radius.
    radius = bias_radius(num_buckets, max_distance)
    by_distance = distance_buckets(num_buckets, max_distance)
    assert by_distance.shape == (2 * radius + 1,)
    assert torch.equal(by_distance[relative.clamp(-radius, radius) + radius], want)


def test_buckets_that_never_settle_are_refused():
    with pytest.raises(ValueError, match=r"num_buckets 64, max_distance 5\) still change past distance 16"):
        distance_buckets(64, 5)


def test_dense_bias_is_transformers_position_bias():
    torch.manual_seed(0)
    config = type("Config", (), dict(num_attention_heads=3, num_hidden_layers=0, relative_attention_num_buckets=40))
    encoder = MPNetEncoder(config)
    x = torch.zeros(2, 150, 8)  # (B, T, H): only the shape is read
    want = encoder.compute_position_bias(x)  # (B, nh, T, T)
    ours = dense_bias(RelativeBias(encoder.relative_attention_bias.weight.detach()), 150, 150)  # (nh, T, T)
    assert torch.equal(ours, want[0]) and torch.equal(ours, want[1])
    assert dense_bias(RelativeBias(encoder.relative_attention_bias.weight.detach()), 5, 9).shape == (3, 5, 9)

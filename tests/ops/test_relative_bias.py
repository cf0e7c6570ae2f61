"""fastenc.ops.relative_bias, the one reference of MPNet's buckets, against transformers' own MPNetEncoder."""
import pytest
import torch
from transformers.models.mpnet.modeling_mpnet import MPNetEncoder

from fastenc.ops.relative_bias import RelativeBias, dense_bias, distance_buckets, relative_position_bucket


@pytest.mark.parametrize("num_buckets,max_distance", [(32, 128), (16, 20), (8, 8), (4, 3), (64, 256), (64, 17)])
def test_buckets_and_buckets_by_distance_are_transformers(num_buckets, max_distance):
    relative = torch.arange(-3 * max_distance - 5, 3 * max_distance + 5)  # key - query, both sides of the clamp
    want = MPNetEncoder.relative_position_bucket(relative, num_buckets, max_distance)
    assert torch.equal(relative_position_bucket(relative, num_buckets, max_distance), want)
    # What the Triton kernel reads: the bucket at the distance clamped to +-radius.
    radius = max_distance
    by_distance = distance_buckets(num_buckets, max_distance)
    assert by_distance.shape == (2 * radius + 1,)
    assert torch.equal(by_distance[relative.clamp(-radius, radius) + radius], want)


@pytest.mark.parametrize("num_buckets,max_distance", [(64, 5), (32, 8), (4, 1)])
def test_buckets_that_divide_by_a_zero_or_negative_log_are_refused(num_buckets, max_distance):
    with pytest.raises(ValueError, match=rf"max_distance > num_buckets // 4 = {num_buckets // 4}, got num_buckets "
                                         rf"{num_buckets}, max_distance {max_distance}"):
        distance_buckets(num_buckets, max_distance)


def test_buckets_by_distance_serve_autograd_after_inference_mode():
    """The cached buckets, first made inside inference mode (as a model forward runs), stay plain tensors."""
    with torch.inference_mode():
        _ = RelativeBias(torch.randn(32, 2)).by_distance  # first made here
    table = torch.randn(32, 2, requires_grad=True)
    dense_bias(RelativeBias(table), 3, 4).sum().backward()
    assert table.grad is not None and table.grad.abs().sum() > 0
    distance_buckets(32, 128)[:] = -1  # a copy: the cache is untouched
    assert int(distance_buckets(32, 128).min()) >= 0


def test_dense_bias_is_transformers_position_bias():
    torch.manual_seed(0)
    config = type("Config", (), dict(num_attention_heads=3, num_hidden_layers=0, relative_attention_num_buckets=40))
    encoder = MPNetEncoder(config)
    x = torch.zeros(2, 150, 8)  # (B, T, H): only the shape is read
    want = encoder.compute_position_bias(x)  # (B, nh, T, T)
    ours = dense_bias(RelativeBias(encoder.relative_attention_bias.weight.detach()), 150, 150)  # (nh, T, T)
    assert torch.equal(ours, want[0]) and torch.equal(ours, want[1])
    assert dense_bias(RelativeBias(encoder.relative_attention_bias.weight.detach()), 5, 9).shape == (3, 5, 9)

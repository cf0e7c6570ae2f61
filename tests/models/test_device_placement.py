"""A warm forward creates no tensor on the default device: every tensor it makes names its device (the model's, or
the CPU on purpose, for host bookkeeping such as DeBERTa's window of relative rows).

On a GPU a tensor made without a device is made on the host and copied in, every forward: from pageable memory that
copy makes the host wait for the GPU, and CUDA-graph capture fails on it. The CPU cannot see such a copy, so the test
makes the default device "meta" during a warm call: a tensor created without a device is then a meta tensor, and the
first operation that mixes it with real data fails, naming the place. On CUDA the same check runs beside
tests/gpu/test_gpu_paths.py's sync check.
"""
import pytest
import torch

import fastenc
from model_compare import triton_device_or_skip
from tiny_checkpoints import IMPLEMENTATIONS, build, padded_batch, save


@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("family", IMPLEMENTATIONS)
def test_a_warm_forward_makes_no_tensor_on_the_default_device(tmp_path, family, backend):
    device = triton_device_or_skip() if backend == "triton" else "cpu"
    model = fastenc.load(save(build(family, "ForMaskedLM"), tmp_path / family), device=device, backend=backend,
                         dtype=torch.float32)
    ids, mask = padded_batch(model.config.vocab_size, [30, 7, 21], model.config.pad_token_id or 0)
    want = model(ids, attention_mask=mask, output_hidden_states=True)  # the first call may build caches
    with torch.device("meta"):
        got = model(ids, attention_mask=mask, output_hidden_states=True)
    assert got.last_hidden_state.device.type == torch.device(device).type
    assert torch.equal(got.last_hidden_state, want.last_hidden_state)
    assert torch.equal(got.logits, want.logits)
    for a, b in zip(got.hidden_states, want.hidden_states, strict=True):
        assert torch.equal(a, b)

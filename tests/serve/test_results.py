"""A server batch's heads: computed once per batch from its packed hidden states, as the model's own forward does."""
import numpy as np
import pytest
import torch

import fastenc
from fastenc.serve.results import BatchOutputs
from tiny_checkpoints import build, save


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_batch_heads_pool_each_sequence_as_the_model_does(tmp_path, pooling):
    """ModernBERT's classifier reads the mean of each sequence's tokens when `classifier_pooling` is "mean": the
    server's heads must pool through the model, not take each sequence's first token."""
    engine = fastenc.load(save(build("modernbert", "ForSequenceClassification", classifier_pooling=pooling,
                                     local_attention=6), tmp_path / "ckpt"))
    lengths = [5, 1, 9]
    cu = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.random.default_rng(0).integers(5, engine.config.vocab_size, size=int(cu[-1]))
    packed = engine.model.pack(ids, cu)
    with torch.inference_mode():
        want = engine.model.forward_packed(packed).logits  # (B, num_labels)
        hidden = engine.model.forward_packed(packed, run_head=False).last_hidden_state  # (N, H)
        got = BatchOutputs(engine, packed, hidden, parts=[]).heads().logits
    assert torch.equal(got, want)

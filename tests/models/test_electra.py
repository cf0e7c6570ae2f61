"""ELECTRA against transformers: the embedding projection present or absent, the discriminator and generator
heads, on the CPU path and under the Triton interpreter (every head also runs in the shared family tests)."""
import pytest
import torch

import fastenc
from model_compare import compare
from tiny_checkpoints import build, padded_batch, save


def _batch(model):
    ids, mask = padded_batch(model.config.vocab_size, [1, 34, 9, 20], model.config.pad_token_id, seed=5)
    return ids, mask, (torch.arange(ids.shape[1]) >= 4).long().expand_as(ids) * mask


@pytest.mark.parity
@pytest.mark.parametrize("head", ["ForPreTraining", "ForMaskedLM", "ForSequenceClassification"])
@pytest.mark.parametrize("overrides", [dict(), dict(embedding_size=48),
                                       dict(hidden_act="gelu_new", num_hidden_layers=1)],
                         ids=["projected", "no-projection", "gelu_new"])
def test_heads_match_transformers(tmp_path, head, overrides):
    hf_model = build("electra", head, **overrides)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    assert (model.model.encoder.project_in is None) == (model.config.embedding_size == model.config.hidden_size)
    ids, mask, type_ids = _batch(model)
    compare(model, hf_model, ids, mask, type_ids)
    if head == "ForPreTraining":  # one logit per token, re-padded like the hidden states
        assert model(ids, attention_mask=mask).logits.shape == ids.shape


@pytest.mark.parity
@pytest.mark.parametrize("head", ["ForPreTraining", "ForMaskedLM"])
def test_triton_backend_matches_transformers(tmp_path, head):
    pytest.importorskip("triton", reason="the triton backend needs triton")
    import os

    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("no CUDA and the Triton interpreter is off")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    hf_model = build("electra", head, num_hidden_layers=2)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"), device=device, dtype=torch.float32, backend="triton")
    ids, mask, type_ids = _batch(model)
    compare(model, hf_model, ids, mask, type_ids)

"""Checkpoint names: prefixes, legacy spellings, tied decoders, buffers, and clear errors for every mismatch."""
import logging

import pytest
import torch
from safetensors.torch import load_file, save_file

import fastenc
from fastenc import WeightsError
from model_compare import compare
from parity import assert_parity, float64_twin
from tiny_checkpoints import build, padded_batch, save


def _rewrite(folder, edit):
    path = folder / "model.safetensors"
    tensors = load_file(path)
    edit(tensors)
    save_file(tensors, path)


@pytest.mark.parity
def test_base_model_with_and_without_prefix(tmp_path):
    hf_model = build("bert", "Model")
    folder = save(hf_model, tmp_path / "ckpt")
    _rewrite(folder, lambda t: t.update({f"bert.{k}": t.pop(k) for k in list(t)}))
    model = fastenc.load(folder)
    ids, mask = padded_batch(101, [4, 7], 0)
    compare(model, hf_model, ids, mask)


@pytest.mark.parity
def test_stored_tied_decoder_and_buffers_are_accepted(tmp_path):
    hf_model = build("bert", "ForMaskedLM")
    folder = save(hf_model, tmp_path / "ckpt")

    def add_old_entries(t):
        t["cls.predictions.decoder.weight"] = t["bert.embeddings.word_embeddings.weight"].clone()
        t["bert.embeddings.position_ids"] = torch.arange(40)[None]
    _rewrite(folder, add_old_entries)
    model = fastenc.load(folder)
    assert model.mlm.decoder is model.embeddings.word.weight  # tied: one tensor, not a copy
    compare(model, hf_model, *padded_batch(101, [4, 7], 0))


def test_unused_head_tensors_are_ignored_with_a_debug_line(tmp_path, caplog):
    folder = save(build("bert", "ForPreTraining"), tmp_path / "ckpt")
    from tiny_checkpoints import rewrite_config
    rewrite_config(folder, architectures=["BertForMaskedLM"])
    with caplog.at_level(logging.DEBUG, logger="fastenc.loading.checkpoint"):
        model = fastenc.load(folder)
    assert model.config.task == "masked_lm" and model.sentence_pair is None
    assert "cls.seq_relationship.weight" in caplog.text


def test_missing_tensor_names_key_and_shape(tmp_path):
    folder = save(build("bert", "ForMaskedLM"), tmp_path / "ckpt")
    _rewrite(folder, lambda t: t.pop("bert.encoder.layer.1.attention.self.key.weight"))
    with pytest.raises(WeightsError, match=r"missing tensor 'encoder.layer.1.attention.self.key.weight' \(expected shape \(48, 48\)\)"):
        fastenc.load(folder)


def test_wrong_shape_names_key_and_both_shapes(tmp_path):
    folder = save(build("roberta", "ForMaskedLM"), tmp_path / "ckpt")
    _rewrite(folder, lambda t: t.update({"lm_head.dense.weight": torch.zeros(64, 63)}))
    with pytest.raises(WeightsError, match=r"'lm_head.dense.weight' has shape \(64, 63\), expected \(64, 64\)"):
        fastenc.load(folder)


def test_unexpected_encoder_tensor_is_an_error(tmp_path):
    folder = save(build("distilbert", "Model"), tmp_path / "ckpt")
    _rewrite(folder, lambda t: t.update({"transformer.layer.2.ffn.lin1.weight": torch.zeros(70, 48)}))
    with pytest.raises(WeightsError, match=r"unexpected tensor 'transformer.layer.2.ffn.lin1.weight' with shape \(70, 48\)"):
        fastenc.load(folder)


def test_head_needing_a_missing_pooler_is_an_error(tmp_path):
    folder = save(build("bert", "ForSequenceClassification"), tmp_path / "ckpt")
    _rewrite(folder, lambda t: [t.pop(k) for k in list(t) if "pooler" in k])
    with pytest.raises(WeightsError, match="missing tensor 'pooler.dense.weight'"):
        fastenc.load(folder)


def test_bare_encoder_without_pooler_weights_has_no_pooler(tmp_path):
    folder = save(build("bert", "Model"), tmp_path / "ckpt")
    _rewrite(folder, lambda t: [t.pop(k) for k in list(t) if "pooler" in k])
    model = fastenc.load(folder)
    out = model(torch.tensor([[5, 6, 7]]))
    assert model.pooler is None and out.pooler_output is None


@pytest.mark.parity
def test_distilbert_sinusoidal_table_computed_when_absent(tmp_path):
    hf_model = build("distilbert", "Model", sinusoidal_pos_embds=True)
    folder = save(hf_model, tmp_path / "ckpt")
    _rewrite(folder, lambda t: t.pop("embeddings.position_embeddings.weight"))
    model = fastenc.load(folder)
    compare(model, hf_model, *padded_batch(99, [4, 7], 0))


@pytest.mark.parity
def test_task_override_loads_the_bare_encoder(tmp_path):
    hf_model = build("roberta", "ForSequenceClassification")
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"), task="base")
    assert model.classifier is None
    ids, mask = padded_batch(103, [4, 7], 1)
    with torch.no_grad():
        ref = hf_model.roberta(ids, attention_mask=mask).last_hidden_state
        exact = float64_twin(hf_model).roberta(ids, attention_mask=mask).last_hidden_state
    out = model(ids, attention_mask=mask).last_hidden_state
    assert_parity("roberta", "base encoder of a classifier", out, ref, exact, mask)


def test_weights_are_not_duplicated(tmp_path):
    model = fastenc.load(save(build("bert", "ForMaskedLM"), tmp_path / "ckpt"))
    assert all(p.device.type == "cpu" for p in model.parameters())
    pointers = [p.data_ptr() for p in model.parameters()]  # parameters() yields the tied decoder once
    assert len(pointers) == len(set(pointers))


def test_loaded_parameters_need_no_gradients(tmp_path):
    model = fastenc.load(save(build("bert", "ForMaskedLM"), tmp_path / "ckpt"))
    assert not any(p.requires_grad for p in model.parameters())

"""DeBERTa-v2/v3 against transformers in the shapes and options that change its attention: which position terms run,
shared or own position projections, buckets that do and do not cover the length, clamped distances, the conv
branch, absolute positions, an embedding projection, both MLM heads; CPU path and Triton interpreter."""
import pytest
import torch

import fastenc
from model_compare import compare
from tiny_checkpoints import build, padded_batch, save

VARIANTS = {
    # v2-xlarge's layout: conv branch, own position projections; 64 buckets cover every distance here.
    "v2-conv": dict(conv_kernel_size=3, conv_act="gelu", share_att_key=False, position_buckets=64,
                    position_biased_input=True, type_vocab_size=2),
    "c2p-only": dict(pos_att_type=["c2p"], share_att_key=False, hidden_size=48, num_attention_heads=1,
                     num_hidden_layers=1),  # head_dim 48, one layer
    "p2c-only": dict(pos_att_type="p2c", num_attention_heads=4),  # head_dim 16, the old "a|b" spelling
    "clamped": dict(position_buckets=-1, max_relative_positions=12, norm_rel_ebd="none"),  # no log buckets
    "no-relative": dict(relative_attention=False, position_biased_input=True),  # scale still counts both terms
    "projection": dict(embedding_size=24, position_biased_input=True, type_vocab_size=2),  # embed_proj, ALBERT-like
    "conv-groups": dict(conv_kernel_size=5, conv_groups=2, conv_act="tanh", num_hidden_layers=1),
    "mlm-lm-predictions": dict(legacy=False),  # lm_predictions.lm_head instead of cls.predictions
}
LENGTHS = [1, 36, 17, 5]  # 1 to max_position_embeddings, padded


def _inputs(model):
    config = model.config
    ids, mask = padded_batch(config.vocab_size, LENGTHS, config.pad_token_id, seed=2)
    type_ids = (torch.arange(ids.shape[1]) >= 3).long().expand_as(ids) * mask if config.type_vocab_size > 1 else None
    return ids, mask, type_ids


# Every variant's encoder, and each head on the variants where it reads something new.
CASES = [(variant, "Model") for variant in VARIANTS] + [
    ("v2-conv", "ForMaskedLM"), ("projection", "ForMaskedLM"), ("mlm-lm-predictions", "ForMaskedLM"),
    ("v2-conv", "ForSequenceClassification"), ("p2c-only", "ForSequenceClassification"),
    ("c2p-only", "ForQuestionAnswering")]


@pytest.mark.parity
@pytest.mark.parametrize("variant,head", CASES)
def test_variant_matches_transformers(tmp_path, variant, head):
    hf_model = build("deberta-v2", head, **VARIANTS[variant])
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask, type_ids = _inputs(model)
    compare(model, hf_model, ids, mask, type_ids)  # packed path
    compare(model, hf_model, ids[1:2], None, None if type_ids is None else type_ids[1:2])  # padded, no padding


@pytest.mark.parity
@pytest.mark.parametrize("variant,head", [("v2-conv", "Model"), ("c2p-only", "ForMaskedLM"), ("clamped", "Model"),
                                          ("p2c-only", "ForSequenceClassification"), (None, "ForTokenClassification")])
def test_triton_backend_matches_transformers(tmp_path, variant, head):
    pytest.importorskip("triton", reason="the triton backend needs triton")
    import os

    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("no CUDA and the Triton interpreter is off")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    # Two layers: the interpreter runs every program in Python; odd layer counts are covered on the CPU path.
    hf_model = build("deberta-v2", head, **{"num_hidden_layers": 2, **VARIANTS.get(variant, {})})
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"), device=device, dtype=torch.float32, backend="triton")
    ids, mask, type_ids = _inputs(model)
    compare(model, hf_model, ids, mask, type_ids)  # packed: the kernel's varlen mode
    model.model.padding_free = False
    compare(model, hf_model, ids, mask, type_ids)  # padded with a key mask


@pytest.mark.parity
def test_holes_and_left_padding_keep_transformers_positions(tmp_path):
    """Relative distances count columns: a mask with holes or left padding runs padded, not packed."""
    hf_model = build("deberta-v2", "ForTokenClassification", **VARIANTS["v2-conv"])
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [9, 12, 4], 0, seed=4)
    holes = mask.clone()
    holes[1, 3:5] = 0
    assert not model.model.packable(holes) and model.model.packable(mask)
    compare(model, hf_model, ids, holes)
    left = torch.flip(mask, dims=[1])
    compare(model, hf_model, torch.flip(ids, dims=[1]), left)


def test_deberta_v1_and_bad_options_are_refused(tmp_path):
    hf_model = build("deberta-v2", "Model")
    folder = save(hf_model, tmp_path / "ckpt")
    from tiny_checkpoints import rewrite_config

    original = (folder / "config.json").read_text()
    for changes, message in ((dict(model_type="deberta"), "DeBERTa v1"), (dict(conv_kernel_size=4), "odd"),
                             (dict(legacy=False, embedding_size=16), "legacy=false"),
                             (dict(attention_head_size=7), "attention_head_size"),
                             (dict(pos_att_type=3), "pos_att_type"), (dict(share_att_key="yes"), "share_att_key")):
        rewrite_config(folder, **changes)
        with pytest.raises(fastenc.ConfigError, match=message):
            fastenc.load(folder)
        (folder / "config.json").write_text(original)

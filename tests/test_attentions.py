"""output_attentions=True: per-layer (B, heads, T, T) probabilities equal to transformers' eager attention."""
import pytest
import torch

import fastenc
from tiny_checkpoints import FAMILY_CONFIGS, build, padded_batch, save

ATOL = 1e-5


@pytest.mark.parametrize("family", list(FAMILY_CONFIGS))
def test_attentions_match_transformers_eager(tmp_path, family):
    hf_model = build(family, "Model", attn_implementation="eager")
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [9, 4, 1], model.config.pad_token_id, seed=1)
    with torch.no_grad():
        ref = hf_model(ids, attention_mask=mask, output_attentions=True).attentions
    out = model(ids, attention_mask=mask, output_attentions=True)
    # ALBERT applies inner_group_num layers per step: transformers reports one attention map per inner layer.
    expected_maps = model.config.num_layers * (model.config.inner_group_num if family == "albert" else 1)
    assert out.attentions is not None and len(out.attentions) == len(ref) == expected_maps
    B, T = ids.shape
    real_queries = mask.bool()  # rows of padded queries are free to differ
    for ours, theirs in zip(out.attentions, ref):
        assert ours.shape == (B, model.config.num_heads, T, T)
        ours, theirs = ours.permute(0, 2, 1, 3), theirs.permute(0, 2, 1, 3)  # (B, T, heads, T)
        assert (ours[real_queries] - theirs[real_queries]).abs().max().item() <= ATOL
        sums = ours[real_queries].sum(-1)
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)  # probabilities over keys
        padded_keys = ~mask.bool()[:, None, :].expand(B, T, T)  # (B, Tq, Tk)
        assert ours.permute(0, 2, 1, 3)[padded_keys[:, None].expand(B, ours.shape[2], T, T)].abs().max() == 0
    plain = model(ids, attention_mask=mask)
    assert plain.attentions is None
    keep = mask.bool()
    assert (plain.last_hidden_state[keep] - out.last_hidden_state[keep]).abs().max().item() <= ATOL

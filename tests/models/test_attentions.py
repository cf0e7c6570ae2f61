"""output_attentions=True: per-layer (B, heads, T, T) probabilities equal to transformers' eager attention."""
import pytest
import torch

import fastenc
from parity import assert_parity, float64_twin
from tiny_checkpoints import FAMILY_CONFIGS, build, padded_batch, save


@pytest.mark.parity
@pytest.mark.parametrize("family", list(FAMILY_CONFIGS))
def test_attentions_match_transformers_eager(tmp_path, family):
    hf_model = build(family, "Model", attn_implementation="eager")
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    # ModernBERT: transformers' float64 eager attention turns a padded query whose window holds no real key into NaN,
    # which then reaches every token; padding within the window (4) of a real token keeps its oracle finite.
    lengths = [9, 7, 5] if family == "modernbert" else [9, 4, 1]
    ids, mask = padded_batch(model.config.vocab_size, lengths, model.config.pad_token_id, seed=1)
    with torch.no_grad():
        ref = hf_model(ids, attention_mask=mask, output_attentions=True)
        oracle = float64_twin(hf_model)(ids, attention_mask=mask, output_attentions=True)
    out = model(ids, attention_mask=mask, output_attentions=True)
    # ALBERT applies inner_group_num layers per step: transformers reports one attention map per inner layer.
    expected_maps = model.config.num_layers * (model.config.inner_group_num if family == "albert" else 1)
    assert out.attentions is not None and len(out.attentions) == len(ref.attentions) == expected_maps
    B, T = ids.shape
    real_queries = mask.bool()  # rows of padded queries are free to differ
    for i, (ours, theirs, exact) in enumerate(zip(out.attentions, ref.attentions, oracle.attentions)):
        assert ours.shape == (B, model.config.num_heads, T, T)
        ours, theirs, exact = (a.permute(0, 2, 1, 3) for a in (ours, theirs, exact))  # (B, T, heads, T)
        assert_parity(family, f"attentions[{i}]", ours, theirs, exact, real_queries)
        # Probabilities over at most 9 keys: fp32 rounding of the sum is a few 1e-7 on any CPU, far inside 1e-5.
        sums = ours[real_queries].sum(-1)
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
        # (B, Tq, Tk) padded keys of real queries (a padded query may see no real key in a sliding window at all)
        padded_keys = ~mask.bool()[:, None, :] & mask.bool()[:, :, None]
        assert ours.permute(0, 2, 1, 3)[padded_keys[:, None].expand(B, ours.shape[2], T, T)].abs().max() == 0
    plain = model(ids, attention_mask=mask)
    assert plain.attentions is None
    # Both paths (with and without the probabilities materialised) obey the rule on the same inputs.
    for name, hidden in (("last_hidden_state", plain.last_hidden_state),
                         ("last_hidden_state with attentions", out.last_hidden_state)):
        assert_parity(family, name, hidden, ref.last_hidden_state, oracle.last_hidden_state, mask)

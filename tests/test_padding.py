"""Padding-free batches: packing bookkeeping, and the packed path equal to the padded one."""
import pytest
import torch

import fastenc
from fastenc.ops.packing import Packing
from tiny_checkpoints import build, padded_batch, save


def test_pack_and_unpack_round_trip():
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    packing = Packing.from_mask(mask)
    assert packing.cu_seqlens.tolist() == [0, 3, 4, 8] and packing.cu_seqlens.dtype == torch.int32
    assert packing.max_seqlen == 4
    x = torch.arange(12.0).view(3, 4, 1)  # (B, T, 1)
    packed = packing.pack(x)  # (N, 1)
    assert packed.squeeze(1).tolist() == [0, 1, 2, 4, 8, 9, 10, 11]
    assert torch.equal(packing.unpack(packed), x * mask[..., None])


@pytest.mark.parametrize("family,head", [("bert", "ForTokenClassification"), ("roberta", "ForMaskedLM"),
                                         ("albert", "ForQuestionAnswering"), ("distilbert", "ForSequenceClassification")])
def test_padding_free_equals_padded_path(tmp_path, family, head):
    model = fastenc.load(save(build(family, head), tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [9, 1, 4, 13, 2], model.config.pad_token_id)
    model.padding_free = True
    packed = model(ids, attention_mask=mask, output_hidden_states=True)
    model.padding_free = False
    padded = model(ids, attention_mask=mask, output_hidden_states=True)
    keep = mask.bool()
    # Equal up to GEMM blocking: a matrix product over N packed rows may round differently from one over B * T rows.
    for a, b in zip(packed.hidden_states, padded.hidden_states, strict=True):
        assert (a[keep] - b[keep]).abs().max().item() <= 1e-5
    for name in ("logits", "start_logits", "end_logits", "pooler_output"):
        a, b = getattr(packed, name), getattr(padded, name)
        if a is None:
            continue
        if a.dim() >= 2 and a.shape[:2] == mask.shape:
            a, b = a[keep], b[keep]
        assert (a - b).abs().max().item() <= 1e-5, name


def test_head_less_call_skips_the_heads(tmp_path):
    model = fastenc.load(save(build("bert", "ForMaskedLM"), tmp_path / "ckpt"))
    out = model(torch.tensor([[5, 6, 7]]), run_head=False)
    assert out.logits is None and out.last_hidden_state.shape == (1, 3, 48)


def test_left_padded_batch_keeps_position_zero_for_the_pooler(tmp_path):
    """Sequence heads read position 0; with left padding that is a pad token, which packing would drop."""
    hf_model = build("bert", "ForSequenceClassification")
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [6, 3], 0)
    ids, mask = ids.flip(1), mask.flip(1)  # left padding
    with torch.no_grad():
        ref = hf_model(ids, attention_mask=mask)
    out = model(ids, attention_mask=mask)
    assert (out.logits - ref.logits).abs().max().item() <= 1e-5


@pytest.mark.parametrize("family,head", [("bert", "ForSequenceClassification"), ("roberta", "ForMaskedLM")])
def test_packed_output_hands_back_real_tokens_only(tmp_path, family, head):
    model = fastenc.load(save(build(family, head), tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [9, 1, 4], model.config.pad_token_id)
    padded = model(ids, attention_mask=mask, output_hidden_states=True)
    packed = model(ids, attention_mask=mask, output_hidden_states=True, packed_output=True)
    keep = mask.bool()
    assert packed.cu_seqlens.tolist() == [0, 9, 10, 14] and padded.cu_seqlens is None
    assert packed.last_hidden_state.shape == (14, model.config.hidden_size)
    assert torch.equal(packed.last_hidden_state, padded.last_hidden_state[keep])
    assert torch.equal(packed.hidden_states[1], padded.hidden_states[1][keep])
    if packed.logits.dim() == 2 and model.config.task == "masked_lm":
        assert torch.equal(packed.logits, padded.logits[keep])  # (N, V) per-token logits
    else:
        assert torch.equal(packed.logits, padded.logits)  # (B, labels) sequence logits

"""Padding-free batches: packing bookkeeping, and the packed path equal to the padded one."""
import pytest
import torch

import fastenc
from fastenc.ops.packing import Packing
from model_compare import compare, compare_outputs
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


@pytest.mark.parity
@pytest.mark.parametrize("family,head", [("bert", "ForTokenClassification"), ("roberta", "ForMaskedLM"),
                                         ("albert", "ForQuestionAnswering"),
                                         ("distilbert", "ForSequenceClassification")])
def test_padding_free_equals_padded_path(tmp_path, family, head):
    hf_model = build(family, head)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [9, 1, 4, 13, 2], model.config.pad_token_id)
    # The two paths multiply matrices of different shapes (N packed rows vs B * T), so they may round differently:
    # each is held to the parity rule against the float64 reference on the same inputs, not to each other.
    for padding_free in (True, False):
        model.padding_free = padding_free
        out = model(ids, attention_mask=mask, output_hidden_states=True)
        compare_outputs(model, out, hf_model, ids, mask, what=" packed" if padding_free else " padded")


def test_head_less_call_skips_the_heads(tmp_path):
    model = fastenc.load(save(build("bert", "ForMaskedLM"), tmp_path / "ckpt"))
    out = model(torch.tensor([[5, 6, 7]]), run_head=False)
    assert out.logits is None and out.last_hidden_state.shape == (1, 3, 48)


@pytest.mark.parity
def test_left_padded_batch_keeps_position_zero_for_the_pooler(tmp_path):
    """Sequence heads read position 0; with left padding that is a pad token, which packing would drop."""
    hf_model = build("bert", "ForSequenceClassification")
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [6, 3], 0)
    ids, mask = ids.flip(1), mask.flip(1)  # left padding
    compare(model, hf_model, ids, mask)


@pytest.mark.parametrize("family,head", [("bert", "ForSequenceClassification"), ("roberta", "ForMaskedLM")])
def test_packed_output_hands_back_real_tokens_only(tmp_path, family, head):
    model = fastenc.load(save(build(family, head), tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [9, 1, 4], model.config.pad_token_id)
    padded = model(ids, attention_mask=mask, output_hidden_states=True)
    packed = model(ids, attention_mask=mask, output_hidden_states=True, packed_output=True)
    keep = mask.bool()
    assert packed.cu_seqlens.tolist() == [0, 9, 10, 14] and padded.cu_seqlens is None
    assert packed.last_hidden_state.shape == (14, model.config.hidden_size)
    # Bit-equal on any CPU: both calls run the same packed computation; packed_output only skips the final unpack.
    assert torch.equal(packed.last_hidden_state, padded.last_hidden_state[keep])
    assert torch.equal(packed.hidden_states[1], padded.hidden_states[1][keep])
    if packed.logits.dim() == 2 and model.config.task == "masked_lm":
        assert torch.equal(packed.logits, padded.logits[keep])  # (N, V) per-token logits
    else:
        assert torch.equal(packed.logits, padded.logits)  # (B, labels) sequence logits

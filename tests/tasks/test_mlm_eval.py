"""mlm_loss: DataCollatorForLanguageModeling's masking reproduced draw for draw, and the loss transformers computes on
the identical masked batch."""
import math

import pytest
import torch
import transformers

import fastenc
from fastenc.tasks.mlm_eval import IGNORE_INDEX, masked_batches
from parity import assert_parity, float64_twin
from real_vocab_checkpoints import build_with_tokenizer

TEXTS = [
    "The quick brown fox jumps over the lazy dog, again and again, until the dog finally wakes up.",
    "Masked language models predict missing words from both sides of the context.",
    "Short one.",
    "Perplexity is the exponential of the mean cross-entropy over the masked positions only.",
    "Special tokens and padding are never masked, exactly as the data collator does it.",
] * 3


@pytest.fixture(scope="module", params=["bert", "roberta", "modernbert", "deberta-v2", "electra", "gte",
                                        "nomic_bert", "mpnet"])
def checkpoint(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param + "-mlm")
    hf_model, hf_tok = build_with_tokenizer(request.param, "ForMaskedLM", folder, seed=5)
    return fastenc.load(folder), hf_model, hf_tok


def collator_batches(hf_tok, texts, seed, batch_size, max_length, mlm_probability=0.15):
    collator = transformers.DataCollatorForLanguageModeling(hf_tok, mlm_probability=mlm_probability, seed=seed)
    for start in range(0, len(texts), batch_size):
        rows = hf_tok(texts[start:start + batch_size], truncation=True, max_length=max_length)["input_ids"]
        yield collator([{"input_ids": r} for r in rows])


def test_masking_is_the_collators(checkpoint):
    model, _, hf_tok = checkpoint
    ours = list(masked_batches(model, TEXTS, seed=7, batch_size=4))
    theirs = list(collator_batches(hf_tok, TEXTS, seed=7, batch_size=4, max_length=model.max_length))
    assert len(ours) == len(theirs) == 4
    for a, b in zip(ours, theirs):
        assert torch.equal(a["input_ids"], b["input_ids"])
        assert torch.equal(a["labels"], b["labels"])
        assert torch.equal(a["attention_mask"], b["attention_mask"])


@pytest.mark.parity
def test_loss_matches_transformers_on_the_same_batches(checkpoint):
    model, hf_model, hf_tok = checkpoint
    result = model.mlm_loss(TEXTS, seed=3, batch_size=4)
    total, exact, count = 0.0, 0.0, 0
    for batch in collator_batches(hf_tok, TEXTS, seed=3, batch_size=4, max_length=model.max_length):
        n = int((batch["labels"] != IGNORE_INDEX).sum())
        with torch.no_grad():  # transformers' loss is the mean over the batch's masks
            total += hf_model(**batch).loss.item() * n
            exact += float64_twin(hf_model)(**batch).loss.item() * n
        count += n
    assert result["masked_tokens"] == count
    assert_parity(model.config.model_type, "mlm loss", [result["loss"]], [total / count], [exact / count])
    assert result["perplexity"] == pytest.approx(math.exp(result["loss"]))


def test_deterministic_for_a_seed(checkpoint):
    model, _, _ = checkpoint
    assert model.mlm_loss(TEXTS, seed=11) == model.mlm_loss(TEXTS, seed=11)
    assert model.mlm_loss(TEXTS, seed=11) != model.mlm_loss(TEXTS, seed=12)


def test_special_tokens_and_padding_are_never_masked(checkpoint):
    model, _, hf_tok = checkpoint
    special = torch.tensor(hf_tok.all_special_ids)
    for batch in masked_batches(model, TEXTS, mlm_probability=0.9, seed=0, batch_size=5):
        predicted = batch["labels"] != IGNORE_INDEX
        assert predicted.any()
        assert not torch.isin(batch["labels"][predicted], special).any()
        assert not (predicted & (batch["attention_mask"] == 0)).any()


def test_replacement_rule_80_10_10(checkpoint):
    model, _, hf_tok = checkpoint
    mask_id = hf_tok.mask_token_id
    kept = masked = random = 0
    for batch in masked_batches(model, TEXTS * 20, mlm_probability=0.5, seed=1, batch_size=64):
        predicted = batch["labels"] != IGNORE_INDEX
        ids, labels = batch["input_ids"][predicted], batch["labels"][predicted]
        masked += int((ids == mask_id).sum())
        kept += int((ids == labels).sum())
        random += int(((ids != mask_id) & (ids != labels)).sum())
    total = kept + masked + random
    assert abs(masked / total - 0.8) < 0.02 and abs(kept / total - 0.1) < 0.02 and abs(random / total - 0.1) < 0.02


def test_bad_inputs(checkpoint, tmp_path):
    model, _, _ = checkpoint
    with pytest.raises(ValueError, match="no token of texts was masked"):
        model.mlm_loss([])
    with pytest.raises(ValueError, match="mlm_probability"):
        model.mlm_loss(TEXTS, mlm_probability=0.0)
    build_with_tokenizer("bert", "Model", tmp_path)
    with pytest.raises(ValueError, match="no masked-LM head"):
        fastenc.load(tmp_path).mlm_loss(TEXTS)

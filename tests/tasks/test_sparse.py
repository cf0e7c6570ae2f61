"""model.embed_sparse (SPLADE) against transformers' masked-LM logits: max over tokens of log(1 + relu(logits))."""
import pytest
import torch

import fastenc
from parity import assert_parity, float64_twin
from real_vocab_checkpoints import build_with_tokenizer

TEXTS = ["Hello world!", "", "Sparse vectors weigh the vocabulary by what the text is about.", "x"]


@pytest.fixture(scope="module", params=["bert", "roberta"])
def checkpoint(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param + "-splade")
    hf_model, hf_tok = build_with_tokenizer(request.param, "ForMaskedLM", folder, seed=2)
    return fastenc.load(folder), hf_model, hf_tok


def reference(hf_model, hf_tok, text) -> torch.Tensor:
    enc = hf_tok(text, return_tensors="pt")
    with torch.no_grad():
        logits = hf_model(**enc).logits[0]  # (T, V)
    return torch.log1p(torch.relu(logits)).amax(dim=0)  # (V,)


def dense(records, size: int) -> torch.Tensor:
    out = torch.zeros(size)
    out[[r["index"] for r in records]] = torch.tensor([r["value"] for r in records])
    return out


@pytest.mark.parity
def test_embed_sparse_matches_transformers(checkpoint):
    model, hf_model, hf_tok = checkpoint
    got = model.embed_sparse(TEXTS, max_batch_tokens=32)
    assert len(got) == len(TEXTS)
    for records in got:
        assert [r["index"] for r in records] == sorted(r["index"] for r in records)
        assert all(r["value"] > 0 for r in records)
    V = model.config.vocab_size
    ours = torch.stack([dense(r, V) for r in got])
    theirs = torch.stack([reference(hf_model, hf_tok, t) for t in TEXTS])
    exact = torch.stack([reference(float64_twin(hf_model), hf_tok, t) for t in TEXTS])
    assert_parity(model.config.model_type, "embed_sparse", ours, theirs, exact)
    torch.testing.assert_close(dense(model.embed_sparse(TEXTS[0]), V), ours[0])  # one str: its list alone


def test_embed_sparse_needs_a_masked_lm(tmp_path):
    build_with_tokenizer("bert", "Model", tmp_path)
    with pytest.raises(ValueError, match="masked-LM"):
        fastenc.load(tmp_path).embed_sparse(["x"])

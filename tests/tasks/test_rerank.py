"""model.rerank against transformers: sigmoid of a one-label cross-encoder on (query, text) pairs, highest first."""
import pytest
import torch

import fastenc
from parity import assert_parity, float64_twin
from real_vocab_checkpoints import build_with_tokenizer

QUERY = "What is deep learning?"
TEXTS = ["Deep learning is a kind of machine learning.", "Paris is in France.", "", "Cats sleep a lot, " * 40]


# fixture param -> (family, vocabulary): gte-multilingual-reranker-base is GTE on XLM-R's SentencePiece
CROSS_ENCODERS = {"bert": ("bert", None), "roberta": ("roberta", None), "gte-multilingual": ("gte", "xlmr-unigram")}


@pytest.fixture(scope="module", params=list(CROSS_ENCODERS))
def cross_encoder(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param + "-cross-encoder")
    family, vocab = CROSS_ENCODERS[request.param]
    hf_model, hf_tok = build_with_tokenizer(family, "ForSequenceClassification", folder, seed=7,
                                            labels=["relevance"], vocab=vocab)
    return fastenc.load(folder), hf_model, hf_tok


def reference(hf_model, hf_tok, texts, raw: bool, max_length: int) -> torch.Tensor:
    enc = hf_tok([QUERY] * len(texts), texts, return_tensors="pt", padding=True, truncation=True,
                 max_length=max_length)
    with torch.no_grad():
        logits = hf_model(**enc).logits[:, 0]  # (n,)
    return logits if raw else torch.sigmoid(logits)


@pytest.mark.parity
@pytest.mark.parametrize("raw_scores", [False, True])
def test_rerank_matches_transformers(cross_encoder, raw_scores):
    model, hf_model, hf_tok = cross_encoder
    ranked = model.rerank(QUERY, TEXTS, raw_scores=raw_scores, return_text=True, max_batch_tokens=64)
    assert sorted(r["index"] for r in ranked) == list(range(len(TEXTS)))
    assert [r["score"] for r in ranked] == sorted((r["score"] for r in ranked), reverse=True)
    assert all(r["text"] == TEXTS[r["index"]] for r in ranked)
    ours = torch.tensor([r["score"] for r in sorted(ranked, key=lambda r: r["index"])])
    theirs = reference(hf_model, hf_tok, TEXTS, raw_scores, model.max_length)
    exact = reference(float64_twin(hf_model), hf_tok, TEXTS, raw_scores, model.max_length)
    assert_parity(model.config.model_type, f"rerank raw={raw_scores}", ours, theirs, exact)
    assert "text" not in model.rerank(QUERY, TEXTS[:1])[0]


def test_rerank_refuses_other_checkpoints(cross_encoder, tmp_path):
    model = cross_encoder[0]
    with pytest.raises(TypeError, match="query must be a str"):
        model.rerank(["q"], TEXTS)
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        model.rerank(QUERY, ["a", 2])
    build_with_tokenizer("bert", "ForSequenceClassification", tmp_path)  # 5 labels
    with pytest.raises(ValueError, match="num_labels=1"):
        fastenc.load(tmp_path).rerank(QUERY, TEXTS)

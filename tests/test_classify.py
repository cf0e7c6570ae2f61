"""model.classify and model.tag against transformers' text- and token-classification pipelines (same checkpoints)."""
import pytest
import torch
import transformers

import fastenc
from real_vocab_checkpoints import NER_LABELS, build_with_tokenizer

SCORE_ATOL = 1e-5
TEXTS = ["I loved this film.", "Terrible, would not watch again!", "It was fine, I guess; nothing special at all.", ""]
NER_TEXTS = ["My name is Wolfgang and I live in Berlin.", "Sarah Connor went to New York City yesterday.",
             "Unbelievably, Zürich's ÖBB trains ran late.", "no entities here"]


@pytest.fixture(scope="module", params=["bert", "roberta"])
def classifier(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param + "-sst")
    labels = ["very negative", "negative", "neutral", "positive", "very positive"]
    hf_model, hf_tok = build_with_tokenizer(request.param, "ForSequenceClassification", folder, seed=3, labels=labels)
    pipe = transformers.pipeline("text-classification", model=hf_model, tokenizer=hf_tok)
    return fastenc.load(folder), pipe


@pytest.fixture(scope="module", params=["bert", "roberta"])
def tagger(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param + "-ner")
    hf_model, hf_tok = build_with_tokenizer(request.param, "ForTokenClassification", folder, seed=4, labels=NER_LABELS)
    with torch.no_grad():  # bias toward "O" and entity starts so the random tagger yields a realistic mix of groups
        hf_model.classifier.bias.copy_(torch.tensor([1.0, 0.5, 0.8, 0.2, 0.9]))
    hf_model.save_pretrained(folder)
    pipe = transformers.pipeline("token-classification", model=hf_model, tokenizer=hf_tok,
                                 aggregation_strategy="simple")
    return fastenc.load(folder), pipe


def test_classify_matches_the_pipeline(classifier):
    model, pipe = classifier
    results = model.classify(TEXTS, batch_size=3)
    assert len(results) == len(TEXTS)
    for text, ours in zip(TEXTS, results):
        best = pipe(text)[0]
        assert ours["label"] == best["label"]
        assert abs(ours["score"] - best["score"]) <= SCORE_ATOL
        every = {d["label"]: d["score"] for d in pipe(text, top_k=None)}
        assert list(ours["scores"]) == [model.config.id2label[i] for i in range(5)]  # label-id order
        assert max(abs(ours["scores"][k] - every[k]) for k in every) <= SCORE_ATOL
    alone = model.classify(TEXTS[0])  # one str -> one record, its batch row up to rounding
    assert alone["label"] == results[0]["label"]
    assert max(abs(alone["scores"][k] - results[0]["scores"][k]) for k in alone["scores"]) <= SCORE_ATOL


def test_classify_pairs_matches_the_pipeline(classifier):
    model, pipe = classifier
    firsts = ["A man is eating.", "The sky is blue today."]
    seconds = ["Someone eats food.", "It is raining heavily, the sky is grey."]
    for ours, a, b in zip(model.classify(firsts, text_pairs=seconds), firsts, seconds):
        theirs = pipe({"text": a, "text_pair": b})
        assert ours["label"] == theirs["label"]
        assert abs(ours["score"] - theirs["score"]) <= SCORE_ATOL
    with pytest.raises(ValueError, match="text_pairs has 1"):
        model.classify(firsts, text_pairs=seconds[:1])


def test_classify_errors(classifier):
    model, _ = classifier
    assert model.classify([]) == []
    with pytest.raises(TypeError, match=r"texts\[0\] must be a str"):
        model.classify([b"bytes"])
    with pytest.raises(ValueError, match="no token-classification head"):
        model.tag("text")


def test_tag_errors(tagger):
    model, _ = tagger
    with pytest.raises(ValueError, match="no sequence-classification head"):
        model.classify("text")
    with pytest.raises(TypeError, match="iterable of str"):
        model.tag(None)


def test_tag_matches_the_pipeline_simple_aggregation(tagger):
    model, pipe = tagger
    results = model.tag(NER_TEXTS, batch_size=2)
    groups_seen = 0
    for text, ours in zip(NER_TEXTS, results):
        theirs = pipe(text)
        assert [(g["entity_group"], g["word"], g["start"], g["end"]) for g in ours] == \
               [(g["entity_group"], g["word"], g["start"], g["end"]) for g in theirs]
        for a, b in zip(ours, theirs):
            assert abs(a["score"] - float(b["score"])) <= SCORE_ATOL
        groups_seen += len(ours)
    assert groups_seen > 3  # the comparison covered real groups, not empty lists
    alone = model.tag(NER_TEXTS[0])  # one str -> its list; equal to its row of the batch up to rounding
    assert [{**g, "score": 0} for g in alone] == [{**g, "score": 0} for g in results[0]]
    assert max(abs(a["score"] - b["score"]) for a, b in zip(alone, results[0])) <= SCORE_ATOL
    assert model.tag([]) == []


def test_long_texts_are_truncated(classifier):
    model, pipe = classifier
    long_text = "good " * 400
    (ours,) = model.classify([long_text])
    theirs = pipe(long_text, truncation=True, max_length=model.max_length)[0]
    assert ours["label"] == theirs["label"] and abs(ours["score"] - theirs["score"]) <= SCORE_ATOL


def test_long_texts_are_truncated_for_tagging(tagger):
    model, pipe = tagger
    long_text = "Berlin " * 400
    groups = model.tag(long_text)
    assert groups and max(g["end"] for g in groups) < len(long_text) // 2  # the tail beyond max_length is cut

"""model.classify and model.tag against transformers' text- and token-classification pipelines (same checkpoints)."""
import pytest
import torch
import transformers

import fastenc
from parity import assert_parity, assert_valid_top_k, bound, float64_twin
from real_vocab_checkpoints import NER_LABELS, build_with_tokenizer

TEXTS = ["I loved this film.", "Terrible, would not watch again!", "It was fine, I guess; nothing special at all.", ""]
NER_TEXTS = ["My name is Wolfgang and I live in Berlin.", "Sarah Connor went to New York City yesterday.",
             "Unbelievably, Zürich's ÖBB trains ran late.", "no entities here"]


@pytest.fixture(scope="module", params=["bert", "roberta", "modernbert", "deberta-v2", "electra", "gte",
                                        "nomic_bert", "mpnet"])
def classifier(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param + "-sst")
    labels = ["very negative", "negative", "neutral", "positive", "very positive"]
    hf_model, hf_tok = build_with_tokenizer(request.param, "ForSequenceClassification", folder, seed=3, labels=labels)
    pipe = transformers.pipeline("text-classification", model=hf_model, tokenizer=hf_tok)
    exact = transformers.pipeline("text-classification", model=float64_twin(hf_model), tokenizer=hf_tok)
    return fastenc.load(folder), pipe, exact


@pytest.fixture(scope="module", params=["bert", "roberta", "modernbert", "deberta-v2", "electra", "gte",
                                        "nomic_bert", "mpnet"])
def tagger(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param + "-ner")
    hf_model, hf_tok = build_with_tokenizer(request.param, "ForTokenClassification", folder, seed=4, labels=NER_LABELS)
    with torch.no_grad():  # bias toward "O" and entity starts so the random tagger yields a realistic mix of groups
        hf_model.classifier.bias.copy_(torch.tensor([1.0, 0.5, 0.8, 0.2, 0.9]))
    hf_model.save_pretrained(folder)
    pipe = transformers.pipeline("token-classification", model=hf_model, tokenizer=hf_tok,
                                 aggregation_strategy="simple")
    exact = transformers.pipeline("token-classification", model=float64_twin(hf_model), tokenizer=hf_tok,
                                  aggregation_strategy="simple")
    return fastenc.load(folder), pipe, exact


def all_scores(pipe, inputs, **kwargs) -> dict:
    """label -> probability for every label, from a text-classification pipeline."""
    found = pipe(inputs, top_k=None, **kwargs)
    return {d["label"]: float(d["score"]) for d in found}


def check_record(model, ours: dict, theirs: dict, exact: dict, what: str) -> None:
    """One classify record: its probabilities under the parity rule, its label the float64 reference's best (a label
    within fp32 noise of the best may win on another CPU), and `score` the probability of that label."""
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    assert list(ours["scores"]) == labels  # label-id order
    vector = lambda scores: torch.tensor([scores[k] for k in labels], dtype=torch.float64)  # noqa: E731
    _, ref_err = assert_parity(model.config.model_type, what, vector(ours["scores"]), vector(theirs), vector(exact))
    assert_valid_top_k([labels.index(ours["label"])], vector(exact), 2 * bound(ref_err), what)
    assert ours["score"] == ours["scores"][ours["label"]]


@pytest.mark.parity
def test_classify_matches_the_pipeline(classifier):
    model, pipe, exact = classifier
    results = model.classify(TEXTS, batch_size=3)
    assert len(results) == len(TEXTS)
    for text, ours in zip(TEXTS, results):
        check_record(model, ours, all_scores(pipe, text), all_scores(exact, text), f"classify {text!r}")
    alone = model.classify(TEXTS[0])  # one str -> one record; a batch of one rounds differently from the batch row
    check_record(model, alone, all_scores(pipe, TEXTS[0]), all_scores(exact, TEXTS[0]), "classify alone")


@pytest.mark.parity
def test_classify_pairs_matches_the_pipeline(classifier):
    model, pipe, exact = classifier
    firsts = ["A man is eating.", "The sky is blue today."]
    seconds = ["Someone eats food.", "It is raining heavily, the sky is grey."]
    for ours, a, b in zip(model.classify(firsts, text_pairs=seconds), firsts, seconds):
        pair = {"text": a, "text_pair": b}
        check_record(model, ours, all_scores(pipe, pair), all_scores(exact, pair), f"classify pair {a!r}")
    with pytest.raises(ValueError, match="text_pairs has 1"):
        model.classify(firsts, text_pairs=seconds[:1])


def test_classify_errors(classifier):
    model, _, _ = classifier
    assert model.classify([]) == []
    with pytest.raises(TypeError, match=r"texts\[0\] must be a str"):
        model.classify([b"bytes"])
    with pytest.raises(ValueError, match="no token-classification head"):
        model.tag("text")


def test_tag_errors(tagger):
    model, _, _ = tagger
    with pytest.raises(ValueError, match="no sequence-classification head"):
        model.classify("text")
    with pytest.raises(TypeError, match="iterable of str"):
        model.tag(None)


def token_margin(pipe, text) -> float:
    """Smallest gap, over the text's tokens, between a token's best and second-best label probability (float64)."""
    enc = pipe.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        probs = pipe.model(**enc).logits[0].softmax(-1)  # (T, labels)
    top2 = probs.topk(2, dim=-1).values  # (T, 2)
    return (top2[:, 0] - top2[:, 1]).min().item()


def token_errors(pipe, exact, text) -> float:
    """transformers' own error on the per-token label probabilities of `text` (vs its float64 copy)."""
    enc = pipe.tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        theirs, right = (p.model(**enc).logits[0].softmax(-1) for p in (pipe, exact))  # (T, labels)
    return (theirs.double() - right).abs().max().item()


@pytest.mark.parity
def test_tag_matches_the_pipeline_simple_aggregation(tagger):
    model, pipe, exact = tagger
    results = model.tag(NER_TEXTS, batch_size=2)
    alone = model.tag(NER_TEXTS[0])  # one str -> its list; its batch of one rounds differently from the batch row
    groups_seen = 0
    for i, (text, ours) in enumerate(zip(NER_TEXTS, results)):
        # Groups are discrete: they must be exact, which needs every token's label clear of fp32 noise. The test
        # texts are chosen so; were a tie within noise to appear, this says so instead of failing on some CPU only.
        noise = 2 * bound(token_errors(pipe, exact, text))
        assert token_margin(exact, text) > noise, f"{text!r} has a near-tie between two labels: pick another text"
        theirs, right = pipe(text), exact(text)
        key = lambda groups: [(g["entity_group"], g["word"], g["start"], g["end"]) for g in groups]  # noqa: E731
        assert key(ours) == key(theirs) == key(right)
        runs = [("batch", ours)] + ([("alone", alone)] if i == 0 else [])
        for how, groups in runs:
            assert key(groups) == key(right)
            if not groups:
                continue  # a text the random tagger finds no entity in: nothing to score (groups_seen counts)
            assert_parity(model.config.model_type, f"tag scores ({how})", [g["score"] for g in groups],
                          [float(g["score"]) for g in theirs], [float(g["score"]) for g in right])
        groups_seen += len(ours)
    assert groups_seen > 3  # the comparison covered real groups, not empty lists
    assert [{**g, "score": 0} for g in alone] == [{**g, "score": 0} for g in results[0]]
    assert model.tag([]) == []


@pytest.mark.parity
def test_long_texts_are_truncated(classifier):
    model, pipe, exact = classifier
    long_text = "good " * 400
    (ours,) = model.classify([long_text])
    cut = dict(truncation=True, max_length=model.max_length)
    check_record(model, ours, all_scores(pipe, long_text, **cut), all_scores(exact, long_text, **cut), "truncated")


def test_long_texts_are_truncated_for_tagging(tagger):
    model, _, _ = tagger
    long_text = "Berlin " * 400
    groups = model.tag(long_text)
    assert groups and max(g["end"] for g in groups) < len(long_text) // 2  # the tail beyond max_length is cut

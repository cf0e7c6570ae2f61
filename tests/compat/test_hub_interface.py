"""fairseq's RoBERTa hub interface (encode, decode, extract_features, heads, predict) against transformers on tiny
random checkpoints with the real roberta-base and bert-base-uncased vocabularies."""

import pytest
import torch

import fastenc
from parity import assert_parity, assert_valid_top_k, bound, float64_twin, magnitude
from real_vocab_checkpoints import build_with_tokenizer

PAIR = ("Roberta is a heavily optimized version of BERT.", "Roberta is not very optimized.")


@pytest.fixture(scope="module")
def roberta(tmp_path_factory):
    folder = tmp_path_factory.mktemp("roberta-base")
    hf_model, hf_tok = build_with_tokenizer("roberta", "Model", folder)
    return fastenc.load(folder), hf_model, hf_tok


@pytest.fixture(scope="module")
def roberta_mnli(tmp_path_factory):
    """A sequence-classification checkpoint in a folder named like the Hub's roberta-large-mnli."""
    folder = tmp_path_factory.mktemp("ckpts") / "roberta-large-mnli"
    labels = ["CONTRADICTION", "NEUTRAL", "ENTAILMENT", "OTHER_A", "OTHER_B"]
    hf_model, hf_tok = build_with_tokenizer("roberta", "ForSequenceClassification", folder, seed=1, labels=labels)
    return fastenc.load(folder), hf_model, hf_tok


@pytest.fixture(scope="module")
def bert_classifier(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bert-base-uncased-finetuned")
    hf_model, hf_tok = build_with_tokenizer("bert", "ForSequenceClassification", folder, seed=2)
    return fastenc.load(folder), hf_model, hf_tok


def test_encode_matches_the_tokenizer(roberta):
    model, _, hf_tok = roberta
    tokens = model.encode("Hello world!")
    assert tokens.dtype == torch.long and tokens.dim() == 1
    assert tokens.tolist() == [0, 31414, 232, 328, 2]
    assert hf_tok("Hello world!")["input_ids"] == [0, 31414, 232, 328, 2]  # the reference really tokenizes
    assert model.encode(*PAIR).tolist() == hf_tok(*PAIR)["input_ids"]
    assert model.encode(*PAIR).tolist().count(2) == 3  # <s> a </s></s> b </s>, as fairseq builds pairs


def test_encode_three_sentences_appends_like_fairseq(roberta):
    model, _, hf_tok = roberta
    a, b, c = "One.", "Two.", "Three."
    expected = hf_tok(a, b)["input_ids"] + [2] + hf_tok(c, add_special_tokens=False)["input_ids"] + [2]
    assert model.encode(a, b, c).tolist() == expected


def test_bert_pairs_encode_as_the_tokenizer(bert_classifier):
    model, _, hf_tok = bert_classifier
    assert model.encode("Hello world!").tolist() == hf_tok("Hello world!")["input_ids"] == [101, 7592, 2088, 999, 102]
    assert model.encode(*PAIR).tolist() == hf_tok(*PAIR)["input_ids"]


def test_decode_drops_special_tokens(roberta, bert_classifier):
    model, _, _ = roberta
    assert model.decode(model.encode("Hello world!")) == "Hello world!"
    assert model.decode(model.encode(*PAIR)) == list(PAIR)  # fairseq returns one string per sentence
    assert model.decode(model.encode("Hello world!")[None]) == "Hello world!"
    bert, _, hf_tok = bert_classifier
    ids = bert.encode("Hello world!")
    assert bert.decode(ids) == hf_tok.decode(ids, skip_special_tokens=True) == "hello world!"
    with pytest.raises(ValueError, match="one sequence"):
        model.decode(torch.zeros(2, 3, dtype=torch.long))


@pytest.mark.parity
def test_extract_features_matches_transformers(roberta):
    model, hf_model, hf_tok = roberta
    tokens = model.encode(*PAIR)
    features = model.extract_features(tokens)
    with torch.no_grad():
        ref = hf_model(tokens[None], output_hidden_states=True)
        exact = float64_twin(hf_model)(tokens[None], output_hidden_states=True)
    assert features.shape == (1, len(tokens), 32)
    assert_parity("roberta", "extract_features", features, ref.last_hidden_state, exact.last_hidden_state)
    every = model.extract_features(tokens, return_all_hiddens=True)
    assert isinstance(every, list) and len(every) == model.config.num_layers + 1
    assert torch.equal(every[-1], features)  # the same computation: bit-equal on any CPU
    for i, (ours, theirs, right) in enumerate(zip(every, ref.hidden_states, exact.hidden_states, strict=True)):
        assert_parity("roberta", f"extract_features all_hiddens[{i}]", ours, theirs, right)


@pytest.mark.parity
def test_extract_features_batch_with_padding(roberta):
    model, hf_model, _ = roberta
    a, b = model.encode("Short."), model.encode(*PAIR)
    batch = torch.full((2, len(b)), model.config.pad_token_id)
    batch[0, :len(a)], batch[1] = a, b
    features = model.extract_features(batch)
    mask = (batch != 1).long()
    with torch.no_grad():
        ref = hf_model(batch, attention_mask=mask).last_hidden_state
        exact = float64_twin(hf_model)(batch, attention_mask=mask).last_hidden_state
    assert mask.sum(1).tolist() == [len(a), len(b)]
    assert_parity("roberta", "extract_features padded", features, ref, exact, mask)


def test_extract_features_rejects_bad_tokens(roberta):
    model, _, _ = roberta
    with pytest.raises(ValueError, match="exceeds maximum length"):
        model.extract_features(torch.ones(model.max_length + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="empty"):
        model.extract_features(torch.tensor([], dtype=torch.long))


@pytest.mark.parity
def test_checkpoint_head_is_registered_under_its_task_name(roberta_mnli):
    model, hf_model, hf_tok = roberta_mnli
    assert model.classification_head_names == ["mnli"]
    assert model.head_labels("mnli")[:3] == ["CONTRADICTION", "NEUTRAL", "ENTAILMENT"]
    tokens = model.encode(*PAIR)
    enc = hf_tok(*PAIR, return_tensors="pt")
    with torch.no_grad():
        logits, exact = hf_model(**enc).logits, float64_twin(hf_model)(**enc).logits
    ours = model.predict("mnli", tokens, return_logits=True)
    _, ref_err = assert_parity("roberta", "predict logits", ours, logits, exact)
    log_probs = model.predict("mnli", tokens)
    assert_parity("roberta", "predict log-probs", log_probs, logits.log_softmax(-1), exact.log_softmax(-1))
    assert_valid_top_k([int(log_probs.argmax())], exact[0], 2 * bound(ref_err, magnitude(exact)), "predicted class")


@pytest.mark.parity
def test_bert_pair_predict_uses_token_types(bert_classifier):
    """BERT's classifier reads the pooler and token types: predict infers them from the separator, as the tokenizer
    sets them for a pair."""
    model, hf_model, hf_tok = bert_classifier
    assert model.classification_head_names == ["sentence_classification_head"]
    enc = hf_tok(*PAIR, return_tensors="pt")
    assert enc["token_type_ids"].sum() > 0
    with torch.no_grad():
        ref = hf_model(**enc, output_hidden_states=True)
        exact = float64_twin(hf_model)(**enc, output_hidden_states=True)
    ours = model.predict("sentence_classification_head", model.encode(*PAIR), return_logits=True)
    assert_parity("bert", "predict logits", ours, ref.logits, exact.logits)
    features = model.extract_features(model.encode(*PAIR))
    assert_parity("bert", "extract_features", features, ref.hidden_states[-1], exact.hidden_states[-1])


def test_registered_head(roberta):
    model, _, _ = roberta
    head = model.register_classification_head("sentiment", num_classes=3)
    assert "sentiment" in model.classification_head_names
    tokens = model.encode("Hello world!")
    log_probs = model.predict("sentiment", tokens)
    assert log_probs.shape == (1, 3)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(1))  # 3 probabilities: a few ulp off 1 on any CPU
    features = model.extract_features(tokens)
    with torch.inference_mode():  # fastenc outputs are inference tensors
        expected = head.out_proj(torch.tanh(head.dense(features[:, 0])))
    # The same head on the same features: equal up to the rounding of two tiny matrix products (rtol 1e-5, default).
    assert torch.allclose(model.predict("sentiment", tokens, return_logits=True), expected)


def test_unknown_head_and_bad_registration(roberta):
    model, _, _ = roberta
    with pytest.raises(KeyError, match="no classification head named 'mnli'"):
        model.predict("mnli", model.encode("Hello"))
    with pytest.raises(ValueError, match="num_classes"):
        model.register_classification_head("bad", 0)


def test_text_methods_need_a_tokenizer(tmp_path):
    from tiny_checkpoints import build, save

    model = fastenc.load(save(build("bert", "Model"), tmp_path / "bare"))
    assert model.tokenizer is None
    with pytest.raises(ValueError, match="no tokenizer files"):
        model.encode("Hello")


@pytest.mark.hub
def test_roberta_large_features_as_in_fairseq_readme():
    """fairseq README: roberta.large, 'Hello world!' -> features of size [1, 5, 1024]; 25 hidden states."""
    roberta = fastenc.load("roberta-large")
    tokens = roberta.encode("Hello world!")
    assert tokens.tolist() == [0, 31414, 232, 328, 2]
    assert roberta.decode(tokens) == "Hello world!"
    assert roberta.extract_features(tokens).shape == (1, 5, 1024)
    every = roberta.extract_features(tokens, return_all_hiddens=True)
    assert len(every) == 25
    assert torch.equal(every[-1], roberta.extract_features(tokens))


@pytest.mark.hub
def test_roberta_large_mnli_predictions_as_in_fairseq_readme():
    """fairseq README: contradiction (0) and entailment (2) for the two seed pairs."""
    roberta = fastenc.load("roberta-large-mnli")
    assert "mnli" in roberta.classification_head_names
    first = roberta.encode("Roberta is a heavily optimized version of BERT.", "Roberta is not very optimized.")
    assert roberta.predict("mnli", first).argmax().item() == 0
    assert roberta.head_labels("mnli")[0] == "CONTRADICTION"
    second = roberta.encode("Roberta is a heavily optimized version of BERT.", "Roberta is based on BERT.")
    assert roberta.predict("mnli", second).argmax().item() == 2
    assert roberta.head_labels("mnli")[2] == "ENTAILMENT"

"""model.fill_mask against transformers' fill-mask pipeline on the same tiny checkpoints (real vocabularies)."""

import pytest
import transformers

import fastenc
from real_vocab_checkpoints import build_with_tokenizer

SCORE_ATOL = 1e-6  # probabilities; the hidden states agree to ~1e-6 and the softmax only shrinks that


@pytest.fixture(scope="module", params=["bert", "roberta"])
def checkpoint(request, tmp_path_factory):
    family = request.param
    folder = tmp_path_factory.mktemp(family + "-mlm")
    hf_model, hf_tok = build_with_tokenizer(family, "ForMaskedLM", folder)
    pipe = transformers.pipeline("fill-mask", model=hf_model, tokenizer=hf_tok)
    return fastenc.load(folder), pipe


def texts_for(model, *templates):
    return [t.replace("{mask}", model.tokenizer.mask_token) for t in templates]


def assert_same_predictions(ours, theirs):
    """Same tokens, token strings and sequences in the same order; scores within SCORE_ATOL. Returns max error."""
    assert [p["token"] for p in ours] == [p["token"] for p in theirs]
    assert [p["token_str"] for p in ours] == [p["token_str"] for p in theirs]
    assert [p["sequence"] for p in ours] == [p["sequence"] for p in theirs]
    errors = [abs(a["score"] - b["score"]) for a, b in zip(ours, theirs)]
    assert max(errors) <= SCORE_ATOL, errors
    return max(errors)


def test_one_mask_matches_the_pipeline(checkpoint):
    model, pipe = checkpoint
    (text,) = texts_for(model, "Hello I'm a {mask} model.")
    for top_k in (1, 5, 12):
        ours, theirs = model.fill_mask(text, top_k=top_k), pipe(text, top_k=top_k)
        assert len(ours) == top_k
        assert_same_predictions(ours, theirs)


def test_many_texts_batched_match_one_by_one_pipeline(checkpoint):
    model, pipe = checkpoint
    texts = texts_for(model, "The capital of France is {mask}.", "{mask}", "A much longer sentence, so that the "
                      "batch is padded: it goes on and on about {mask} things.", "Short {mask}!", "{mask} starts it.")
    ours = model.fill_mask(texts, top_k=3, batch_size=2)
    assert len(ours) == len(texts)
    for text, predictions in zip(texts, ours):
        assert_same_predictions(predictions, pipe(text, top_k=3))


def test_several_masks_give_one_list_per_mask(checkpoint):
    model, pipe = checkpoint
    (text,) = texts_for(model, "The {mask} sat on the {mask} yesterday.")
    ours, theirs = model.fill_mask(text, top_k=4), pipe(text, top_k=4)
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        assert_same_predictions(a, b)


def test_vocabulary_projection_runs_only_at_mask_positions(checkpoint):
    model, _ = checkpoint
    seen = []
    hook = model.mlm.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape)))
    try:
        model.fill_mask(texts_for(model, "One {mask} here and a {mask} there.", "And {mask}."))
    finally:
        hook.remove()
    assert seen == [(3, model.config.hidden_size)]


def test_bad_inputs(checkpoint):
    model, _ = checkpoint
    mask = model.tokenizer.mask_token
    with pytest.raises(ValueError, match="has no mask token"):
        model.fill_mask("No mask in this text.")
    with pytest.raises(ValueError, match="has no mask token"):
        model.fill_mask("")
    with pytest.raises(ValueError, match=r"text 1 has \d+ tokens but the model takes at most"):
        model.fill_mask([f"fine {mask}", "word " * model.max_length + mask])
    with pytest.raises(ValueError, match="top_k"):
        model.fill_mask(f"a {mask}", top_k=0)
    with pytest.raises(TypeError, match="texts\\[1\\] must be a str"):
        model.fill_mask([f"a {mask}", 3])
    assert model.fill_mask([]) == []  # documented: nothing in, nothing out


def test_checkpoint_without_mlm_head(tmp_path):
    build_with_tokenizer("bert", "Model", tmp_path)
    with pytest.raises(ValueError, match="no masked-LM head"):
        fastenc.load(tmp_path).fill_mask("a [MASK]")


@pytest.mark.hub
def test_bert_base_uncased_published_examples():
    """Published outputs: transformers' FillMaskPipeline docstring ("This is a simple [MASK].") and the
    bert-base-uncased model card ("Hello I'm a [MASK] model.")."""
    model = fastenc.load("bert-base-uncased")
    simple = model.fill_mask("This is a simple [MASK].")
    assert [p["token_str"] for p in simple] == ["problem", "question", "equation", "one", "rule"]
    assert [p["token"] for p in simple] == [3291, 3160, 8522, 2028, 3627]
    assert simple[0]["sequence"] == "this is a simple problem."
    assert abs(simple[0]["score"] - 0.042) < 0.001
    card = model.fill_mask("Hello I'm a [MASK] model.")
    assert [p["token_str"] for p in card] == ["fashion", "role", "new", "super", "fine"]
    assert card[0]["sequence"] == "hello i'm a fashion model."


@pytest.mark.hub
@pytest.mark.parametrize("name,text", [
    ("distilbert-base-uncased", "Hello I'm a [MASK] model."),
    ("albert-base-v2", "Hello I'm a [MASK] model."),
    ("distilroberta-base", "The man worked as a <mask>."),
])
def test_seed_models_match_the_pipeline_on_the_hub(name, text):
    """The seeds' other fill-mask models: fastenc's predictions equal transformers' pipeline on the real weights."""
    model = fastenc.load(name)
    pipe = transformers.pipeline("fill-mask", model=name)
    assert_same_predictions(model.fill_mask(text), pipe(text))

"""model.fill_mask against transformers' fill-mask pipeline on the same tiny checkpoints (real vocabularies)."""

import pytest
import torch
import transformers

import fastenc
from parity import assert_valid_top_k, bound, check, error, float64_twin
from real_vocab_checkpoints import build_with_tokenizer



@pytest.fixture(scope="module", params=["bert", "roberta", "modernbert", "deberta-v2", "electra", "gte",
                                        "nomic_bert", "mpnet"])
def checkpoint(request, tmp_path_factory):
    family = request.param
    folder = tmp_path_factory.mktemp(family + "-mlm")
    hf_model, hf_tok = build_with_tokenizer(family, "ForMaskedLM", folder)
    pipe = transformers.pipeline("fill-mask", model=hf_model, tokenizer=hf_tok)
    return fastenc.load(folder), pipe, float64_twin(hf_model)


def texts_for(model, *templates):
    return [t.replace("{mask}", model.tokenizer.mask_token) for t in templates]


def mask_probabilities(model64, tokenizer, text):
    """(masks, vocab) float64 probabilities at each mask of `text`: the oracle for scores and rankings."""
    enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        logits = model64(**enc).logits[0]  # (T, V)
    return logits[enc["input_ids"][0] == tokenizer.mask_token_id].softmax(-1)  # (masks, V)


def assert_same_predictions(model, pipe, model64, text, ours, top_k):
    """fill_mask's predictions for `text` (one list, or one per mask) against the pipeline and the float64 oracle.

    Scores follow the parity rule. Order: the float64 reference's top-k, except that candidates whose reference scores
    lie within the fp32 noise (twice the rule's bound) may swap, or trade the last place, as they may on another CPU.
    token_str and sequence equal the pipeline's for the same token (asked for a few more so a swapped-in one is there).
    """
    probs = mask_probabilities(model64, pipe.tokenizer, text)
    wide = pipe(text, top_k=top_k + 5)
    if len(probs) == 1:
        ours, wide = [ours], [wide]
    assert len(ours) == len(wide) == len(probs)
    for predictions, theirs, right in zip(ours, wide, probs):
        assert len(predictions) == top_k
        mine = [p["token"] for p in predictions]
        their_top = [p["token"] for p in theirs[:top_k]]
        err = error([p["score"] for p in predictions], right[mine])
        ref_err = error([p["score"] for p in theirs[:top_k]], right[their_top], name="transformers")
        check(model.config.model_type, f"fill-mask top-{top_k} scores", err, ref_err)
        assert_valid_top_k(mine, right, 2 * bound(ref_err), f"fill-mask {text!r}")
        by_token = {p["token"]: p for p in theirs}
        for p in predictions:
            assert p["token"] in by_token, (p, their_top)
            same = by_token[p["token"]]
            assert (p["token_str"], p["sequence"]) == (same["token_str"], same["sequence"])


@pytest.mark.parity
def test_one_mask_matches_the_pipeline(checkpoint):
    model, pipe, model64 = checkpoint
    (text,) = texts_for(model, "Hello I'm a {mask} model.")
    for top_k in (1, 5, 12):
        assert_same_predictions(model, pipe, model64, text, model.fill_mask(text, top_k=top_k), top_k)


@pytest.mark.parity
def test_many_texts_batched_match_one_by_one_pipeline(checkpoint):
    model, pipe, model64 = checkpoint
    texts = texts_for(model, "The capital of France is {mask}.", "{mask}", "A much longer sentence, so that the "
                      "batch is padded: it goes on and on about {mask} things.", "Short {mask}!", "{mask} starts it.")
    ours = model.fill_mask(texts, top_k=3, batch_size=2)
    assert len(ours) == len(texts)
    for text, predictions in zip(texts, ours):
        assert_same_predictions(model, pipe, model64, text, predictions, 3)


@pytest.mark.parity
def test_several_masks_give_one_list_per_mask(checkpoint):
    model, pipe, model64 = checkpoint
    (text,) = texts_for(model, "The {mask} sat on the {mask} yesterday.")
    ours = model.fill_mask(text, top_k=4)
    assert len(ours) == 2
    assert_same_predictions(model, pipe, model64, text, ours, 4)


def test_vocabulary_projection_runs_only_at_mask_positions(checkpoint):
    model, _, _ = checkpoint
    seen = []
    hook = model.mlm.register_forward_hook(lambda module, args, out: seen.append(tuple(args[0].shape)))
    try:
        model.fill_mask(texts_for(model, "One {mask} here and a {mask} there.", "And {mask}."))
    finally:
        hook.remove()
    assert seen == [(3, model.config.hidden_size)]


def test_bad_inputs(checkpoint):
    model, _, _ = checkpoint
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
@pytest.mark.parity
@pytest.mark.parametrize("name,text", [
    ("distilbert-base-uncased", "Hello I'm a [MASK] model."),
    ("albert-base-v2", "Hello I'm a [MASK] model."),
    ("distilroberta-base", "The man worked as a <mask>."),
    ("microsoft/mpnet-base", "The capital of France is <mask>."),
])
def test_seed_models_match_the_pipeline_on_the_hub(name, text):
    """The seeds' other fill-mask models: fastenc's predictions equal transformers' pipeline on the real weights."""
    model = fastenc.load(name)
    pipe = transformers.pipeline("fill-mask", model=name)
    assert_same_predictions(model, pipe, float64_twin(pipe.model), text, model.fill_mask(text), 5)

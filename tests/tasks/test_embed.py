"""model.embed: pooled transformers hidden states, batch == one-by-one, streaming, order, truncation, progress."""
import pytest
import torch

import fastenc
from fastenc.tasks import batching
from parity import assert_parity, float64_twin
from real_vocab_checkpoints import build_with_tokenizer, reference_embedding

TEXTS = ["Hello world!", "", "A considerably longer text, which makes batches carry padding for the short ones.",
         "Mid-length text here.", "x", "Tokenizers split unbelievably long words into pieces."]


@pytest.fixture(scope="module", params=["bert", "roberta", "modernbert", "deberta-v2", "electra", "gte",
                                        "nomic_bert", "mpnet"])
def checkpoint(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param + "-base")
    hf_model, hf_tok = build_with_tokenizer(request.param, "Model", folder)
    return fastenc.load(folder), hf_model, hf_tok


def assert_embed_parity(model, hf_model, hf_tok, texts, ours, pooling="mean", what="embed", max_length=None):
    """The parity rule on (len(texts), H) embeddings: transformers (fp32) and its float64 copy pool the same texts."""
    family = model.config.model_type
    theirs = torch.stack([reference_embedding(hf_model, hf_tok, t, pooling, max_length) for t in texts])
    exact = torch.stack([reference_embedding(float64_twin(hf_model), hf_tok, t, pooling, max_length) for t in texts])
    assert_parity(family, f"{what} ({pooling})", ours, theirs, exact)


@pytest.mark.parity
@pytest.mark.parametrize("pooling", ["cls", "mean", "max"])
def test_pooling_matches_transformers(checkpoint, pooling):
    model, hf_model, hf_tok = checkpoint
    out = model.embed(TEXTS, pooling=pooling, max_batch_tokens=64)
    assert out.shape == (len(TEXTS), model.config.hidden_size) and out.dtype == torch.float32
    assert out.device.type == "cpu"
    assert_embed_parity(model, hf_model, hf_tok, TEXTS, out, pooling)


@pytest.mark.parity
def test_batches_equal_one_by_one(checkpoint):
    """Batches of other shapes round differently: every batching is held to the rule on its own, not to the others."""
    model, hf_model, hf_tok = checkpoint
    one_by_one = torch.cat([model.embed(t, pooling="mean") for t in TEXTS])
    assert_embed_parity(model, hf_model, hf_tok, TEXTS, one_by_one, what="embed one by one")
    for kwargs in ({}, {"batch_size": 2}, {"max_batch_tokens": 40}, {"batch_size": 1}):
        batched = model.embed(TEXTS, pooling="mean", **kwargs)
        assert_embed_parity(model, hf_model, hf_tok, TEXTS, batched, what=f"embed {kwargs}")


@pytest.mark.parity
def test_streamed_input_in_order(checkpoint, monkeypatch):
    """A generator is consumed chunk by chunk (never listed whole) and results keep the input order."""
    model, hf_model, hf_tok = checkpoint
    monkeypatch.setattr(batching, "CHUNK_SIZE", 4)
    texts = [f"text number {i} " + "word " * (i % 7) for i in range(11)]
    pulled = []

    def stream():
        for t in texts:
            pulled.append(t)
            yield t

    out = model.embed(stream(), batch_size=3)
    assert len(pulled) == len(texts)
    assert_embed_parity(model, hf_model, hf_tok, texts, out, "cls", "embed streamed")  # the default pooling


def test_chunks_are_pulled_lazily():
    consumed = []

    def stream():
        for i in range(10):
            consumed.append(i)
            yield i

    first = next(batching.chunks(stream(), 4))
    assert first == [0, 1, 2, 3] and consumed == [0, 1, 2, 3]


def test_token_budget_batches_sort_and_bound():
    lengths = [5, 50, 7, 3, 48, 6]
    batches = batching.token_budget_batches(lengths, max_batch_tokens=100)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:  # batches are packed: the budget counts real tokens, not rows x longest row
        assert len(b) == 1 or sum(lengths[i] for i in b) <= 100
    assert batches[0] == [3, 0, 5, 2, 4]  # shortest first: 3 + 5 + 6 + 7 + 48 = 69 tokens, 50 more would pass 100
    assert batching.token_budget_batches([500], max_batch_tokens=100) == [[0]]  # an overlong row still runs
    assert all(len(b) <= 2 for b in batching.token_budget_batches(lengths, batch_size=2))


@pytest.mark.parity
def test_long_text_is_truncated_to_the_maximum(checkpoint):
    model, hf_model, hf_tok = checkpoint
    long_text = "many words " * 200
    out = model.embed([long_text, "short"], pooling="mean")
    assert_embed_parity(model, hf_model, hf_tok, [long_text], out[:1], what="embed truncated",
                        max_length=model.max_length)


def test_normalize_and_empty_input(checkpoint):
    model, _, _ = checkpoint
    out = model.embed(TEXTS, normalize=True)
    # Unit norms up to fp32 rounding of a 32-term sum (a few 1e-7 on any CPU); the same call without normalize,
    # normalised afterwards, runs identical batches, so only the division's rounding (default rtol 1e-5) separates them.
    assert torch.allclose(out.norm(dim=-1), torch.ones(len(TEXTS)), atol=1e-6)
    assert torch.allclose(out, torch.nn.functional.normalize(model.embed(TEXTS), dim=-1))
    assert model.embed([]).shape == (0, model.config.hidden_size)
    assert model.embed(iter(())).shape == (0, model.config.hidden_size)


def test_bad_arguments(checkpoint):
    model, _, _ = checkpoint
    with pytest.raises(ValueError, match="pooling must be one of"):
        model.embed(TEXTS, pooling="sum")
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str"):
        model.embed(["fine", None])
    with pytest.raises(TypeError, match="iterable of str"):
        model.embed(42)
    with pytest.raises(ValueError, match="max_batch_tokens"):
        model.embed(TEXTS, max_batch_tokens=0)


def test_progress_bar_on_long_jobs_only(checkpoint, capsys, monkeypatch):
    model, _, _ = checkpoint
    model.embed(TEXTS)
    assert "embed" not in capsys.readouterr().err  # short job: no bar
    model.embed(TEXTS, progress=True)
    assert "embed" in capsys.readouterr().err
    monkeypatch.setattr(batching, "PROGRESS_AFTER", 3)
    model.embed(iter(TEXTS), batch_size=2)  # unknown length: the bar appears once the job proves long
    assert "embed" in capsys.readouterr().err
    model.embed(iter(TEXTS), batch_size=2, progress=False)
    assert "embed" not in capsys.readouterr().err

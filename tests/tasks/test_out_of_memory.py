"""Memory pressure in large jobs: a batch that runs out of memory is halved and retried down to single texts, with one
warning per job, no row lost and the input order kept; a text that does not fit alone fails naming its index.

The error is injected on the CPU: the model's packed forward raises it for batches above a number of rows.
"""
import logging

import pytest
import torch

import fastenc
from fastenc.tasks.runner import is_out_of_memory
from real_vocab_checkpoints import NER_LABELS, build_with_tokenizer

TEXTS = ["I loved this film.", "Terrible, would not watch again!", "It was fine, I guess; nothing special at all.",
         "My name is Wolfgang and I live in Berlin.", "Short.", "Sarah Connor went to New York City yesterday.",
         "Unbelievably, Zürich's ÖBB trains ran late.", "no entities here", "One more line of text to embed here."]
ERRORS = {
    "cuda": lambda: torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    "cpu": lambda: RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                                "you tried to allocate 1073741824 bytes."),
}
ATOL = 1e-5  # halves are other batch shapes: a matrix product may round differently


def _squeeze(model, monkeypatch, max_rows: int, kind: str = "cuda"):
    """From now on, packed forwards of more than `max_rows` sequences raise an out-of-memory error."""
    forward = model.model.forward_packed
    seen = []

    def tight(batch, *args, **kwargs):
        seen.append(batch.num_rows)
        if batch.num_rows > max_rows:
            raise ERRORS[kind]()
        return forward(batch, *args, **kwargs)

    monkeypatch.setattr(model.model, "forward_packed", tight)
    return seen


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = {}
    for head, labels in (("ForMaskedLM", None), ("ForSequenceClassification", ["a", "b", "c", "d", "e"]),
                         ("ForTokenClassification", NER_LABELS)):
        folder = tmp_path_factory.mktemp(head)
        build_with_tokenizer("bert", head, folder, seed=5, labels=labels)
        out[head] = fastenc.load(folder)
    return out


def _close(a, b):
    if isinstance(a, torch.Tensor):
        return a.shape == b.shape and (a - b).abs().max().item() <= ATOL
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return abs(a - b) <= ATOL * max(1.0, abs(b))  # perplexity is exp(loss): relative
    return a == b


JOBS = {
    "embed": ("ForMaskedLM", lambda m, texts: m.embed(texts, pooling="mean")),
    "fill_mask": ("ForMaskedLM", lambda m, texts: m.fill_mask([t + " [MASK]." for t in texts], top_k=3)),
    "mlm_loss": ("ForMaskedLM", lambda m, texts: m.mlm_loss(texts * 3, mlm_probability=0.3, seed=1, batch_size=8)),
    "classify": ("ForSequenceClassification", lambda m, texts: m.classify(texts)),
    "tag": ("ForTokenClassification", lambda m, texts: m.tag(texts)),
}


@pytest.mark.parametrize("kind", ["cuda", "cpu"])
@pytest.mark.parametrize("job", sorted(JOBS))
def test_split_and_retry_gives_the_same_results(models, monkeypatch, caplog, job, kind):
    head, run = JOBS[job]
    model = models[head]
    expected = run(model, TEXTS)
    seen = _squeeze(model, monkeypatch, max_rows=2, kind=kind)
    with caplog.at_level(logging.WARNING, logger="fastenc.tasks.runner"):
        got = run(model, TEXTS)
    assert max(seen) > 2 and any(n <= 2 for n in seen)  # the big batch failed, its halves ran
    assert _close(got, expected), job
    warnings = [r for r in caplog.records if "ran out of memory" in r.getMessage()]
    assert len(warnings) == 1  # once per job, however many batches were split


@pytest.mark.parametrize("job", sorted(JOBS))
def test_a_text_that_does_not_fit_alone_is_named(models, monkeypatch, job):
    head, run = JOBS[job]
    model = models[head]
    _squeeze(model, monkeypatch, max_rows=0)
    with pytest.raises(MemoryError, match=r"text \d+ \(\d+ tokens\) does not fit in memory even alone"):
        run(model, TEXTS)


def test_other_errors_are_not_retried(models, monkeypatch):
    model = models["ForMaskedLM"]
    calls = []

    def broken(batch, *args, **kwargs):
        calls.append(batch.num_rows)
        raise ValueError("not a memory problem")

    monkeypatch.setattr(model.model, "forward_packed", broken)
    with pytest.raises(ValueError, match="not a memory problem"):
        model.embed(TEXTS)
    assert len(calls) == 1


def test_what_counts_as_out_of_memory():
    assert is_out_of_memory(ERRORS["cuda"]()) and is_out_of_memory(ERRORS["cpu"]()) and is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch")) and not is_out_of_memory(ValueError("out of memory"))

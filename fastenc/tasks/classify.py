"""Sequence classification as transformers' text-classification pipeline scores it: label, score, every probability.

Scores follow the pipeline's rule: sigmoid for one label or multi-label checkpoints, none for regression, softmax
otherwise. Long inputs are truncated to the model's maximum (longest_first for pairs), so big jobs never stop on one
overlong text.
"""
import itertools

import torch

from ..compat.fairseq import require_tokenizer
from ..models.registry import label_names
from .batching import as_text_list, check_texts, known_length, require_head, truncation_length
from .runner import Runner, encoder

_MISSING = object()


def score_function(config):
    """The pipeline's choice of function from logits to scores, by problem type and label count."""
    problem_type = config.problem_type
    if problem_type == "regression":
        return lambda logits: logits
    if problem_type == "multi_label_classification" or config.num_labels == 1:
        return torch.sigmoid
    return lambda logits: logits.softmax(dim=-1)


def classify(model, texts, text_pairs=None, batch_size=None, max_batch_tokens=None):
    """One text: {"label", "score", "scores": {label: score, ...}} (scores in label-id order).
    Several texts (list or iterable; `text_pairs` alongside for pair tasks): a list of those, in input order."""
    tokenizer = require_tokenizer(model)
    require_head(model, "classifier", "sequence-classification", "; load a *ForSequenceClassification checkpoint, "
                 "or use model.register_classification_head + model.predict")
    texts, single = as_text_list(texts)
    pairs = None
    if text_pairs is not None:
        pairs, single_pair = as_text_list(text_pairs, "text_pairs")
        if single != single_pair:
            raise TypeError("texts and text_pairs must both be a str or both be lists of str")
        a, b = known_length(texts), known_length(pairs)
        if a is not None and b is not None and a != b:
            raise ValueError(f"texts has {a} items but text_pairs has {b}")
    labels, to_scores = label_names(model.config), score_function(model.config)

    @torch.inference_mode()
    def process(batch) -> torch.Tensor:
        logits = model.model.forward_packed(batch.packed(model.model)).logits  # (b, num_labels)
        return to_scores(logits.float())  # (b, num_labels): the runner fetches a chunk at a time

    results = []
    items = texts if pairs is None else _zip_same_length(texts, pairs)
    with Runner.for_model("classify", model, batch_size, max_batch_tokens) as runner:
        encode = encoder(tokenizer, max_length=truncation_length(model), pairs=pairs is not None, check=check_texts)
        for chunk in runner.chunks(items, encode):
            results.extend(_record(row, labels) for row in runner.run(chunk, process).tolist())
    return results[0] if single else results


def _zip_same_length(texts, pairs):
    for t, p in itertools.zip_longest(texts, pairs, fillvalue=_MISSING):
        if t is _MISSING or p is _MISSING:
            raise ValueError("texts and text_pairs have different lengths")
        yield t, p


def _record(scores: list, labels: list) -> dict:
    best = max(range(len(scores)), key=scores.__getitem__)
    return {"label": labels[best], "score": scores[best], "scores": dict(zip(labels, scores))}

"""Sequence classification as transformers' text-classification pipeline scores it: label, score, every probability.

Scores follow the pipeline's rule: sigmoid for one label or multi-label checkpoints, none for regression, softmax
otherwise. Long inputs are truncated to the model's maximum (longest_first for pairs), so big jobs never stop on one
overlong text.
"""
import itertools

import torch

from .batching import (as_text_list, check_texts, encoded_chunks, known_length, model_inputs, token_budget_batches,
                       truncation_length)
from ..compat.fairseq import require_tokenizer
from ..models.registry import label_names

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
    if model.classifier is None:
        raise ValueError(
            f"this checkpoint has no sequence-classification head (task {model.config.task!r}); load a "
            "*ForSequenceClassification checkpoint, or use model.register_classification_head + model.predict"
        )
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
    max_length = truncation_length(model)
    results = []

    def encode(chunk):
        firsts = [t for t, _ in chunk]
        seconds = None if pairs is None else [p for _, p in chunk]
        check_texts(firsts)
        if seconds is not None:
            check_texts(seconds, "text_pairs")
        return tokenizer(firsts, seconds, truncation=True, max_length=max_length)

    for _, rows in encoded_chunks(_paired(texts, pairs), encode):
        scores = torch.empty(len(rows), len(labels))
        for batch in token_budget_batches([len(r["input_ids"]) for r in rows], max_batch_tokens, batch_size):
            logits = model(**model_inputs(model, [rows[i] for i in batch])).logits  # (B, num_labels)
            scores[batch] = to_scores(logits.float()).cpu()
        results.extend(_record(row, labels) for row in scores.tolist())
    return results[0] if single else results


def _paired(texts, pairs):
    if pairs is None:
        return ((t, None) for t in texts)
    return _zip_same_length(texts, pairs)


def _zip_same_length(texts, pairs):
    for t, p in itertools.zip_longest(texts, pairs, fillvalue=_MISSING):
        if t is _MISSING or p is _MISSING:
            raise ValueError("texts and text_pairs have different lengths")
        yield t, p


def _record(scores: list, labels: list) -> dict:
    best = max(range(len(scores)), key=scores.__getitem__)
    return {"label": labels[best], "score": scores[best], "scores": dict(zip(labels, scores))}

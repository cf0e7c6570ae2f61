"""Reranking with a cross-encoder (a sequence-classification checkpoint with one output): score each (query, text)
pair, highest first, as TEI's /rerank and sentence-transformers' CrossEncoder.rank do.

Scores are the classifier's activated output (sigmoid for one label, the pipeline's rule: classify.score_function),
or the raw logit with `raw_scores`. Pairs longer than the model's maximum are truncated (longest_first).
"""
import torch

from ..compat.fairseq import require_tokenizer
from .batching import as_text_list, check_texts, require_head, truncation_length
from .classify import score_function
from .runner import Runner, encoder


def require_cross_encoder(model) -> None:
    require_head(model, "classifier", "sequence-classification", "; rerank needs a cross-encoder "
                 "(a *ForSequenceClassification checkpoint with num_labels=1)")
    if model.config.num_labels != 1:
        raise ValueError(f"rerank needs a cross-encoder with one output (num_labels=1); this checkpoint has "
                         f"{model.config.num_labels} labels: use classify")


def ranking(scores: list, texts: list, return_text: bool) -> list:
    """[{"index", "score"(, "text")}] sorted by score, highest first (ties keep input order)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    return [{"index": i, "score": scores[i], **({"text": texts[i]} if return_text else {})} for i in order]


def rerank(model, query: str, texts, raw_scores: bool = False, return_text: bool = False, batch_size=None,
           max_batch_tokens=None) -> list:
    tokenizer = require_tokenizer(model)
    require_cross_encoder(model)
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, not {type(query).__name__}")
    texts, _ = as_text_list(texts)
    texts = list(texts)
    check_texts(texts)
    activate = (lambda logits: logits) if raw_scores else score_function(model.config)

    @torch.inference_mode()
    def process(batch) -> torch.Tensor:
        logits = model.model.forward_packed(batch.packed(model.model)).logits  # (b, 1)
        return activate(logits.float())[:, 0]  # (b,): the runner fetches a chunk at a time

    scores = []
    with Runner.for_model("rerank", model, batch_size, max_batch_tokens) as runner:
        encode = encoder(tokenizer, max_length=truncation_length(model), pairs=True, check=check_texts)
        for chunk in runner.chunks([(query, t) for t in texts], encode):
            scores.extend(runner.run(chunk, process).tolist())
    return ranking(scores, texts, return_text)

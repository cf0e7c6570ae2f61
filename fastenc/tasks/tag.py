"""Token classification (NER) with the word-level grouping of transformers' token-classification pipeline under
`aggregation_strategy="simple"`: each token takes its best label, adjacent tokens of one entity type (B-X then I-X)
merge into a group scored by the mean of their scores, and groups labelled "O" are dropped."""

from .batching import (as_text_list, check_texts, encoded_chunks, model_inputs, token_budget_batches, truncation_length)
from ..compat.fairseq import require_tokenizer
from ..models.registry import label_names

IGNORED_LABELS = ("O",)


def tag(model, texts, batch_size=None, max_batch_tokens=None):
    """One text: a list of {"entity_group", "score", "word", "start", "end"}; several texts: one such list each."""
    tokenizer = require_tokenizer(model)
    if model.token_classifier is None:
        raise ValueError(
            f"this checkpoint has no token-classification head (task {model.config.task!r}); load a "
            "*ForTokenClassification checkpoint"
        )
    texts, single = as_text_list(texts)
    labels, max_length = label_names(model.config), truncation_length(model)
    results = []

    def encode(chunk):
        check_texts(chunk)
        return tokenizer(chunk, truncation=True, max_length=max_length, return_offsets_mapping=True,
                         return_special_tokens_mask=True)

    for chunk, rows in encoded_chunks(texts, encode):
        entities = [None] * len(rows)
        for batch in token_budget_batches([len(r["input_ids"]) for r in rows], max_batch_tokens, batch_size):
            logits = model(**model_inputs(model, [rows[i] for i in batch])).logits  # (B, T, num_labels)
            probs = logits.float().softmax(dim=-1).cpu()
            for b, i in enumerate(batch):
                n = len(rows[i]["input_ids"])
                entities[i] = _entities(tokenizer, chunk[i], rows[i], probs[b, :n], labels)
        results.extend(entities)
    return results[0] if single else results


def _entities(tokenizer, text, row, probs, labels) -> list:
    """Per-token best labels (special tokens skipped), then grouped."""
    scores, best = probs.max(dim=-1)  # (T,) each
    tokens = []
    for t, token_id in enumerate(row["input_ids"]):
        if row["special_tokens_mask"][t]:
            continue
        start, end = row["offset_mapping"][t]
        # An unknown token shows the text it covered, as the pipeline does.
        word = text[start:end] if token_id == tokenizer.unk_token_id else tokenizer.convert_ids_to_tokens(token_id)
        tokens.append({"entity": labels[int(best[t])], "score": float(scores[t]), "word": word, "start": start,
                       "end": end})
    groups = [_merge(tokenizer, group) for group in _adjacent_groups(tokens)]
    return [g for g in groups if g["entity_group"] not in IGNORED_LABELS]


def _split_tag(label: str):
    """("B" | "I", entity type); labels without a B-/I- prefix continue the previous entity, as "I" does."""
    if label.startswith(("B-", "I-")):
        return label[0], label[2:]
    return "I", label


def _adjacent_groups(tokens: list) -> list:
    groups = []
    for token in tokens:
        bi, kind = _split_tag(token["entity"])
        if groups and bi != "B" and kind == _split_tag(groups[-1][-1]["entity"])[1]:
            groups[-1].append(token)
        else:
            groups.append([token])
    return groups


def _merge(tokenizer, group: list) -> dict:
    return {
        "entity_group": group[0]["entity"].split("-", 1)[-1],
        "score": sum(t["score"] for t in group) / len(group),
        "word": tokenizer.convert_tokens_to_string([t["word"] for t in group]),
        "start": group[0]["start"],
        "end": group[-1]["end"],
    }


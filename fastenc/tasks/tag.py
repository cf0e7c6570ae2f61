"""Token classification (NER) with the word-level grouping of transformers' token-classification pipeline under
`aggregation_strategy="simple"`: each token takes its best label, adjacent tokens of one entity type (B-X then I-X)
merge into a group scored by the mean of their scores, and groups labelled "O" are dropped."""

import numpy as np
import torch

from ..compat.fairseq import require_tokenizer
from ..models.registry import label_names
from .batching import as_text_list, check_texts, require_head, truncation_length
from .runner import Runner, encoder

IGNORED_LABELS = ("O",)


def tag(model, texts, batch_size=None, max_batch_tokens=None):
    """One text: a list of {"entity_group", "score", "word", "start", "end"}; several texts: one such list each."""
    tokenizer = require_tokenizer(model)
    require_head(model, "token_classifier", "token-classification", "; load a *ForTokenClassification checkpoint")
    texts, single = as_text_list(texts)
    labels = label_names(model.config)

    @torch.inference_mode()
    def process(batch) -> list:
        logits = model.model.forward_packed(batch.packed(model.model)).logits  # (n, num_labels) packed
        texts = [batch.chunk.items[row] for row in batch.rows.tolist()]
        return entity_groups(tokenizer, labels, texts, logits, batch.tokens("input_ids"),
                             batch.tokens("special_tokens_mask"), batch.tokens("offset_mapping"), batch.cu_seqlens)

    results = []
    with Runner.for_model("tag", model, batch_size, max_batch_tokens) as runner:
        encode = encoder(tokenizer, max_length=truncation_length(model), offsets=True, special_tokens_mask=True,
                         check=check_texts)
        for chunk in runner.chunks(texts, encode):
            results.extend(runner.run(chunk, process))
    return results[0] if single else results


def entity_groups(tokenizer, labels, texts, logits, ids, special, offsets, cu_seqlens) -> list:
    """Per row, its entity groups: (n, num_labels) packed token logits of rows laid out by (b + 1,) host offsets,
    with the rows' (n,) ids and special-token mask and (n, 2) character offsets."""
    scores, best = logits.float().softmax(dim=-1).max(dim=-1)  # (n,) each
    scores, best = scores.cpu().numpy(), best.cpu().numpy()
    cu = np.asarray(cu_seqlens).tolist()
    return [_entities(tokenizer, text, ids[a:b], special[a:b], offsets[a:b], scores[a:b], best[a:b], labels)
            for text, a, b in zip(texts, cu[:-1], cu[1:])]


def _entities(tokenizer, text, ids, special, offsets, scores, best, labels) -> list:
    """Per-token best labels (special tokens skipped), then grouped. Arrays are one sequence's tokens."""
    tokens = []
    for t in np.flatnonzero(special == 0).tolist():
        token_id = int(ids[t])
        start, end = int(offsets[t, 0]), int(offsets[t, 1])
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


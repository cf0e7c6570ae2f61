"""Fill-mask as transformers' fill-mask pipeline returns it, with the vocabulary projection only at mask positions.

For each mask: the top_k tokens with `score` (softmax probability), `token` (id), `token_str` (the token decoded alone)
and `sequence` (the text with the prediction in place, decoded as the pipeline decodes it).
"""

from .batching import (as_text_list, check_texts, encoded_chunks, encoder_output, model_inputs, token_budget_batches)
from ..compat.fairseq import require_tokenizer


def fill_mask(model, texts, top_k: int = 5, batch_size=None, max_batch_tokens=None):
    """One text: a list of top_k dicts (a list of such lists when the text has several masks).
    Several texts (a list or any iterable): one such result per text, in input order."""
    tokenizer = require_tokenizer(model)
    if model.mlm is None:
        raise ValueError(
            f"this checkpoint has no masked-LM head (task {model.config.task!r}): fill_mask needs a *ForMaskedLM "
            "checkpoint, or one loaded with task='masked_lm' whose weights include the head"
        )
    if tokenizer.mask_token_id is None:
        raise ValueError("the tokenizer defines no mask token, so there is nothing to fill")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    texts, single = as_text_list(texts)
    results = []
    def encode(chunk):
        check_texts(chunk)
        return tokenizer(chunk)

    for _, rows in encoded_chunks(texts, encode):
        results.extend(_fill_rows(model, tokenizer, rows, len(results), top_k, batch_size, max_batch_tokens))
    return results[0] if single else results


def _fill_rows(model, tokenizer, rows, first_index, top_k, batch_size, max_batch_tokens) -> list:
    for i, row in enumerate(rows):
        _check_row(model, tokenizer, row["input_ids"], first_index + i)
    results = [None] * len(rows)
    lengths = [len(r["input_ids"]) for r in rows]
    for batch in token_budget_batches(lengths, max_batch_tokens, batch_size):
        inputs = model_inputs(model, [rows[i] for i in batch])
        hidden = encoder_output(model, inputs).last_hidden_state  # (B, T, H)
        at_mask = inputs["input_ids"] == tokenizer.mask_token_id  # (B, T)
        logits = model.mlm(hidden[at_mask.to(hidden.device)], model.ops)  # (M, V): masks only
        probs = logits.float().softmax(dim=-1)
        scores, tokens = probs.topk(min(top_k, probs.shape[-1]), dim=-1)  # (M, k) each
        scores, tokens = scores.cpu().tolist(), tokens.cpu().tolist()
        masks_per_row = at_mask.sum(dim=1).tolist()
        start = 0
        for row_index, count in zip(batch, masks_per_row):
            ids = rows[row_index]["input_ids"]
            results[row_index] = _predictions(tokenizer, ids, scores[start:start + count], tokens[start:start + count])
            start += count
    return results


def _check_row(model, tokenizer, ids, index) -> None:
    if len(ids) > model.max_length:
        raise ValueError(
            f"text {index} has {len(ids)} tokens but the model takes at most {model.max_length}; shorten it "
            "(fill_mask does not truncate, which could cut the mask off)"
        )
    if tokenizer.mask_token_id not in ids:
        raise ValueError(f"text {index} has no mask token: write {tokenizer.mask_token!r} where a word should go")


def _predictions(tokenizer, ids, scores, tokens):
    """The pipeline's records for one text: `sequence` drops special tokens when there is one mask; with several
    masks it keeps them, so the other masks stay visible."""
    mask_positions = [t for t, token in enumerate(ids) if token == tokenizer.mask_token_id]
    single_mask = len(mask_positions) == 1
    per_mask = []
    for position, mask_scores, mask_tokens in zip(mask_positions, scores, tokens):
        records = []
        for score, token in zip(mask_scores, mask_tokens):
            filled = list(ids)
            filled[position] = token
            filled = [t for t in filled if t != tokenizer.pad_token_id]  # the pipeline drops padding ids
            records.append({
                "score": score,
                "token": token,
                "token_str": tokenizer.decode([token]),
                "sequence": tokenizer.decode(filled, skip_special_tokens=single_mask),
            })
        per_mask.append(records)
    return per_mask[0] if single_mask else per_mask

"""Fill-mask as transformers' fill-mask pipeline returns it, with the vocabulary projection only at mask positions.

For each mask: the top_k tokens with `score` (softmax probability), `token` (id), `token_str` (the token decoded alone)
and `sequence` (the text with the prediction in place, decoded as the pipeline decodes it).
"""

import numpy as np
import torch

from ..compat.fairseq import require_tokenizer
from .batching import as_text_list, check_texts, require_head
from .runner import Runner, encoder


def fill_mask(model, texts, top_k: int = 5, batch_size=None, max_batch_tokens=None):
    """One text: a list of top_k dicts (a list of such lists when the text has several masks).
    Several texts (a list or any iterable): one such result per text, in input order."""
    tokenizer = require_tokenizer(model)
    require_head(model, "mlm", "masked-LM", ": fill_mask needs a *ForMaskedLM checkpoint, or one loaded with "
                 "task='masked_lm' whose weights include the head")
    if tokenizer.mask_token_id is None:
        raise ValueError("the tokenizer defines no mask token, so there is nothing to fill")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}")
    texts, single = as_text_list(texts)
    mask_id = tokenizer.mask_token_id

    @torch.inference_mode()
    def process(batch) -> list:
        hidden = model.model.forward_packed(batch.packed(model.model), run_head=False).last_hidden_state  # (n, H)
        return mask_predictions(model, batch.tokens("input_ids"), hidden, batch.cu_seqlens, top_k)

    results = []
    with Runner.for_model("fill_mask", model, batch_size, max_batch_tokens) as runner:
        for chunk in runner.chunks(texts, encoder(tokenizer, check=check_texts)):
            check_masks(model, chunk, mask_id, tokenizer.mask_token)
            results.extend(runner.run(chunk, process))
    return results[0] if single else results


def mask_predictions(model, ids: np.ndarray, hidden: torch.Tensor, cu_seqlens: np.ndarray, top_k: int) -> list:
    """The pipeline's records of every row: (n,) packed ids and their (n, H) last hidden states, rows laid out by
    (b + 1,) host offsets. The vocabulary projection runs at the mask positions only."""
    tokenizer = model.tokenizer
    at_mask = np.flatnonzero(ids == tokenizer.mask_token_id)  # (M,) packed positions of the masks
    logits = model.mlm(hidden[torch.from_numpy(at_mask).to(hidden.device)], model.ops)  # (M, V): masks only
    probs = logits.float().softmax(dim=-1)
    scores, tokens = probs.topk(min(top_k, probs.shape[-1]), dim=-1)  # (M, k) each
    scores, tokens = scores.cpu().tolist(), tokens.cpu().tolist()
    bounds = np.searchsorted(at_mask, cu_seqlens).tolist()  # masks of row r: bounds[r]:bounds[r + 1]
    cu = np.asarray(cu_seqlens).tolist()
    return [_predictions(tokenizer, ids[cu[r]:cu[r + 1]].tolist(), scores[bounds[r]:bounds[r + 1]],
                         tokens[bounds[r]:bounds[r + 1]]) for r in range(len(cu) - 1)]


def check_masks(model, chunk, mask_id, mask_token) -> None:
    """fill_mask does not truncate (that could cut the mask off): the first text that is too long or has no mask
    fails, naming its index. `chunk`: anything with .start, .arrays["input_ids"], .cu_seqlens and .lengths."""
    masks_seen = np.concatenate(([0], np.cumsum(chunk.arrays["input_ids"] == mask_id)))  # (N + 1,)
    masks_per_row = masks_seen[chunk.cu_seqlens[1:]] - masks_seen[chunk.cu_seqlens[:-1]]  # (n,)
    bad = np.flatnonzero((chunk.lengths > model.max_length) | (masks_per_row == 0))
    if not len(bad):
        return
    i = int(bad[0])
    if chunk.lengths[i] > model.max_length:
        raise ValueError(
            f"text {chunk.start + i} has {int(chunk.lengths[i])} tokens but the model takes at most "
            f"{model.max_length}; shorten it (fill_mask does not truncate, which could cut the mask off)"
        )
    raise ValueError(f"text {chunk.start + i} has no mask token: write {mask_token!r} where a word should go")


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

"""Masked-LM evaluation as the fine-tuning tutorials run it: mask like DataCollatorForLanguageModeling, report the mean
cross-entropy over masked positions and its exponential (perplexity).

Masking follows the collator draw for draw (same torch generator calls in the same order on the same padded batch),
so `masked_batches` with a seed yields exactly what `DataCollatorForLanguageModeling(..., seed=seed)` yields on the
same batches: a position is chosen with probability `mlm_probability` unless it holds a special token (padding
included); a chosen token becomes the mask token 80% of the time, a random token 10%, and stays 10%.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from ..compat.fairseq import require_tokenizer
from .batching import as_text_list, check_texts, chunks, pad_rows, require_head, truncation_length
from .runner import Chunk, Runner

IGNORE_INDEX = -100  # label of unmasked positions, as transformers' losses skip them
MASK_REPLACE_PROB = 0.8
RANDOM_REPLACE_PROB = 0.1


def mask_tokens(input_ids: torch.Tensor, special_ids, mask_token_id: int, vocab_len: int, mlm_probability: float,
                generator: torch.Generator):
    """(B, T) ids -> (masked ids, labels with IGNORE_INDEX where nothing is predicted)."""
    inputs, labels = input_ids.clone(), input_ids.clone()
    probability = torch.full(labels.shape, mlm_probability)
    probability.masked_fill_(torch.isin(labels, torch.tensor(sorted(special_ids), dtype=torch.long)), 0.0)
    chosen = torch.bernoulli(probability, generator=generator).bool()
    labels[~chosen] = IGNORE_INDEX
    to_mask = torch.bernoulli(torch.full(labels.shape, MASK_REPLACE_PROB), generator=generator).bool() & chosen
    inputs[to_mask] = mask_token_id
    # Of the chosen tokens not masked (20%), half become random: 0.1 / 0.2 of the remainder.
    random_share = RANDOM_REPLACE_PROB / (1 - MASK_REPLACE_PROB)
    to_random = torch.bernoulli(torch.full(labels.shape, random_share), generator=generator).bool() & chosen & ~to_mask
    random_words = torch.randint(vocab_len, labels.shape, dtype=torch.long, generator=generator)
    inputs[to_random] = random_words[to_random]
    return inputs, labels


def masked_batches(model, texts, mlm_probability: float = 0.15, seed: int = 0, batch_size: int = 32):
    """Yields {"input_ids", "attention_mask", "labels"} (B, T) batches of `texts` in input order, truncated to the
    model's maximum and masked; the same texts, seed and batch_size always give the same batches."""
    tokenizer = require_tokenizer(model)
    if tokenizer.mask_token_id is None:
        raise ValueError("the tokenizer defines no mask token, so it cannot mask")
    if isinstance(mlm_probability, bool) or not isinstance(mlm_probability, (int, float)) \
            or not 0.0 < mlm_probability < 1.0:
        raise ValueError(f"mlm_probability must be a number in (0, 1), got {mlm_probability!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    texts, _ = as_text_list(texts)
    generator = torch.Generator().manual_seed(seed)
    special_ids = set(tokenizer.all_special_ids)
    max_length = truncation_length(model)
    for chunk in chunks(texts, batch_size):
        check_texts(chunk)
        rows = tokenizer(chunk, truncation=True, max_length=max_length)["input_ids"]
        ids = pad_rows(rows, tokenizer.pad_token_id)  # (B, T)
        attention_mask = pad_rows([[1] * len(r) for r in rows], 0)  # (B, T)
        inputs, labels = mask_tokens(ids, special_ids, tokenizer.mask_token_id, len(tokenizer), mlm_probability,
                                     generator)
        yield {"input_ids": inputs, "attention_mask": attention_mask, "labels": labels}


def mlm_loss(model, texts, mlm_probability: float = 0.15, seed: int = 0, batch_size: int = 32) -> dict:
    """{"loss": mean cross-entropy over every masked position, "perplexity": exp(loss), "masked_tokens": count}."""
    require_head(model, "mlm", "masked-LM", ": mlm_loss needs a *ForMaskedLM checkpoint")

    @torch.inference_mode()
    def process(batch) -> torch.Tensor:
        """(b, 2) float64: each row's summed loss over its masked positions, and their count."""
        labels = torch.from_numpy(batch.tokens("labels"))  # (n,) packed
        hidden = model.model.forward_packed(batch.packed(model.model), run_head=False).last_hidden_state  # (n, H)
        predicted = labels != IGNORE_INDEX  # (n,)
        logits = model.mlm(hidden[predicted.to(hidden.device)], model.ops)  # (M, V): masked positions only
        losses = F.cross_entropy(logits.float(), labels[predicted].to(logits.device), reduction="none")  # (M,)
        row = torch.from_numpy(np.repeat(np.arange(len(batch.rows)), np.diff(batch.cu_seqlens)))[predicted]  # (M,)
        out = torch.zeros(len(batch.rows), 2, dtype=torch.float64)
        out[:, 0].index_add_(0, row, losses.double().cpu())
        out[:, 1].index_add_(0, row, torch.ones(len(row), dtype=torch.float64))
        return out

    total, count = 0.0, 0
    with Runner("mlm_loss", progress=False) as runner:
        for start, batch in _numbered(masked_batches(model, texts, mlm_probability, seed, batch_size)):
            keep = batch["attention_mask"].bool()  # (B, T) right-padded rows: real tokens first
            lengths = keep.sum(dim=1).numpy()  # (B,)
            cu_seqlens = np.concatenate(([0], np.cumsum(lengths)))
            arrays = {"input_ids": batch["input_ids"][keep].numpy(), "labels": batch["labels"][keep].numpy()}
            chunk = Chunk(start, list(range(len(lengths))), arrays, cu_seqlens)
            sums = runner.run(chunk, process, batches=[list(range(len(lengths)))])  # one batch, split only on OOM
            total += float(sums[:, 0].sum())
            count += int(sums[:, 1].sum())
    if count == 0:
        raise ValueError("no token of texts was masked (texts is empty, holds only special tokens, or is too short "
                         "for this mlm_probability and seed): there is no loss to report")
    loss = total / count
    return {"loss": loss, "perplexity": math.exp(loss), "masked_tokens": count}


def _numbered(batches):
    """(index of the batch's first text in the input, batch)."""
    start = 0
    for batch in batches:
        yield start, batch
        start += batch["input_ids"].shape[0]

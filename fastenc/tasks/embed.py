"""Sentence embeddings for large inputs: streamed, length-sorted token-budget batches, results in input order.

Pooling reads the last layer: "cls" the first token, "mean" the average over real tokens (special tokens included,
as sentence-transformers averages), "max" the element-wise maximum over real tokens.
"""
import torch

from .batching import (Progress, as_text_list, check_texts, encoded_chunks, encoder_output, known_length,
                       model_inputs, token_budget_batches, truncation_length)
from ..compat.fairseq import require_tokenizer

POOLINGS = ("cls", "mean", "max")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(B, T, H) hidden states and (B, T) mask -> (B, H) float32."""
    hidden = hidden.float()
    mask = attention_mask.to(hidden.device).unsqueeze(-1)  # (B, T, 1)
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "mean":
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
    return hidden.masked_fill(mask == 0, float("-inf")).amax(dim=1)


def embed(model, texts, pooling: str = "cls", normalize: bool = False, batch_size=None, max_batch_tokens=None,
          progress=None) -> torch.Tensor:
    """(N, H) float32 CPU tensor, row i for text i. Texts longer than the model's maximum are truncated.

    texts: a str (N = 1) or any iterable of str, read CHUNK_SIZE at a time. An empty iterable gives (0, H).
    progress: True / False force the tqdm bar on / off; None shows it on long jobs.
    """
    tokenizer = require_tokenizer(model)
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    texts, _ = as_text_list(texts)
    max_length = truncation_length(model)
    bar = Progress(known_length(texts), progress, desc="embed")
    outputs = []
    try:
        def encode(chunk):
            check_texts(chunk)
            return tokenizer(chunk, truncation=True, max_length=max_length)

        for _, rows in encoded_chunks(texts, encode):
            outputs.append(_embed_rows(model, rows, pooling, batch_size, max_batch_tokens, bar))
    finally:
        bar.close()
    if not outputs:
        return torch.zeros(0, model.config.hidden_size)
    out = torch.cat(outputs)
    return torch.nn.functional.normalize(out, dim=-1) if normalize else out


def _embed_rows(model, rows, pooling, batch_size, max_batch_tokens, bar) -> torch.Tensor:
    out = torch.empty(len(rows), model.config.hidden_size)
    lengths = [len(r["input_ids"]) for r in rows]
    for batch in token_budget_batches(lengths, max_batch_tokens, batch_size):
        inputs = model_inputs(model, [rows[i] for i in batch])
        hidden = encoder_output(model, inputs).last_hidden_state  # (B, T, H)
        out[batch] = pool(hidden, inputs["attention_mask"], pooling).cpu()
        bar.update(len(batch))
    return out

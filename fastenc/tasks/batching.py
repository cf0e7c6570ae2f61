"""Turning many texts into model batches: streamed chunks, length-sorted token-budget batches, padding, progress.

Large jobs (millions of texts) never sit in memory whole: the input is read CHUNK_SIZE texts at a time, each chunk is
sorted by token count so a batch holds texts of similar length (little padding), and results go back in input order.
"""
import itertools
from concurrent.futures import ThreadPoolExecutor

import torch

CHUNK_SIZE = 10_000  # texts read from the input at a time
DEFAULT_MAX_BATCH_TOKENS = 16_384  # padded positions (rows x longest row) per forward pass
PROGRESS_AFTER = 2_000  # texts: a progress bar appears on jobs at least this long


def chunks(iterable, size: int = CHUNK_SIZE):
    """Lists of `size` items (the last may be shorter), pulled lazily from any iterable."""
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def encoded_chunks(items, encode, size: int = CHUNK_SIZE):
    """(chunk, rows) per chunk of `items`, rows[i] being the dict of token lists `encode(chunk)` made for chunk[i].

    The next chunk is encoded on a worker thread while the caller runs the model on this one: the C++ tokenizer
    releases the GIL, so tokenization overlaps the forward passes.
    """
    def encode_rows(chunk):
        encoded = encode(chunk)
        return [{name: encoded[name][i] for name in encoded} for i in range(len(chunk))]

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastenc-tokenize") as worker:
        pending = None
        for chunk in chunks(items, size):
            submitted = (chunk, worker.submit(encode_rows, chunk))
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = submitted
        if pending is not None:
            yield pending[0], pending[1].result()


def as_text_list(texts, name: str = "texts"):
    """A single str becomes a one-text batch; anything else must be an iterable of str (checked as it streams)."""
    if isinstance(texts, str):
        return [texts], True
    if isinstance(texts, (bytes, dict)) or not hasattr(texts, "__iter__"):
        raise TypeError(f"{name} must be a str or an iterable of str, not {type(texts).__name__}")
    return texts, False


def check_texts(chunk: list, name: str = "texts") -> None:
    for i, text in enumerate(chunk):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] must be a str, not {type(text).__name__}")


def token_budget_batches(lengths, max_batch_tokens=None, batch_size=None) -> list:
    """Group row indices into batches of similar length.

    Rows are sorted by length; a batch grows while (rows x longest row) stays within `max_batch_tokens` and the row
    count within `batch_size`. A row longer than the budget still gets a batch of its own.
    """
    if max_batch_tokens is None and batch_size is None:
        max_batch_tokens = DEFAULT_MAX_BATCH_TOKENS
    if max_batch_tokens is not None and max_batch_tokens < 1:
        raise ValueError(f"max_batch_tokens must be a positive int, got {max_batch_tokens}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches, current, longest = [], [], 0
    for i in order:
        grown = max(longest, lengths[i])
        too_many_tokens = max_batch_tokens is not None and grown * (len(current) + 1) > max_batch_tokens
        too_many_rows = batch_size is not None and len(current) >= batch_size
        if current and (too_many_tokens or too_many_rows):
            batches.append(current)
            current, grown = [], lengths[i]
        current.append(i)
        longest = grown
    if current:
        batches.append(current)
    return batches


def pad_rows(rows: list, pad_value: int) -> torch.Tensor:
    """Right-pad lists of ints into a (B, T) long tensor."""
    T = max(len(r) for r in rows)
    out = torch.full((len(rows), T), pad_value, dtype=torch.long)
    for b, row in enumerate(rows):
        out[b, :len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


def model_inputs(model, encodings: list) -> dict:
    """Padded (B, T) input_ids, attention_mask and (when the model takes them) token_type_ids for a forward call.

    `encodings`: one dict per row with "input_ids" and optionally "token_type_ids" (lists of ints).
    """
    pad_id = model.config.pad_token_id
    ids = pad_rows([e["input_ids"] for e in encodings], pad_id)  # (B, T)
    mask = pad_rows([[1] * len(e["input_ids"]) for e in encodings], 0)  # (B, T)
    inputs = {"input_ids": ids, "attention_mask": mask}
    if model.config.type_vocab_size and all("token_type_ids" in e for e in encodings):
        inputs["token_type_ids"] = pad_rows([e["token_type_ids"] for e in encodings], 0)
    return inputs


def truncation_length(model) -> int:
    """The longest input the model and its tokenizer both accept."""
    longest = model.max_length
    if model.tokenizer is not None:
        longest = min(longest, model.tokenizer.model_max_length)
    return longest


class Progress:
    """A tqdm bar on long jobs only: shown from the start when the total is known and large, otherwise once
    PROGRESS_AFTER texts are done. `enabled`: True always, False never, None decide by size."""

    def __init__(self, total=None, enabled=None, desc: str = "texts"):
        self.enabled, self.total, self.desc = enabled, total, desc
        self.done = 0
        self.bar = None
        if enabled or (enabled is None and total is not None and total >= PROGRESS_AFTER):
            self._open()

    def _open(self):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, initial=self.done, desc=self.desc, unit=" texts", dynamic_ncols=True)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled is None and self.done >= PROGRESS_AFTER:
            self._open()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def known_length(texts):
    try:
        return len(texts)
    except TypeError:  # a generator or a file: streamed, length unknown
        return None


def encoder_output(model, inputs: dict, **kwargs):
    """Forward through the encoder only (no task head): fill-mask and embeddings pick positions themselves."""
    return model(**inputs, run_head=False, **kwargs)

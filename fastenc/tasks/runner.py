"""The one runner every text task shares: texts -> packed, length-sorted token-budget batches -> results in order.

A job reads its input CHUNK_SIZE texts at a time. On a GPU the tokenizer encodes the next chunk on a worker thread into
flat arrays (C++, GIL released) while the model runs on this one; on the CPU it encodes each chunk on every core just
before the model needs it (the model's threads already hold every core: a tokenizer running beside them would
oversubscribe them, and tokenizing costs ~1% of the model's time there); each chunk's rows are sorted by length and
cut into batches of at most `max_batch_tokens` real tokens and/or `batch_size` rows, each batch a NumPy gather of
the chunk's flat arrays. A batch that runs out of memory is halved and retried, down to single sequences (one warning
per job); results go back in input order, with a progress bar on long jobs.
"""
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from ..ops.packing import PackedBatch, gather_rows
from .batching import (CHUNK_SIZE, Progress, chunks, default_batch_tokens, token_budget_batches,
                       widest_activation_bytes)

log = logging.getLogger(__name__)

_CPU_ALLOCATION_FAILURES = ("can't allocate memory", "could not allocate", "out of memory")


def is_out_of_memory(error: BaseException) -> bool:
    """CUDA out-of-memory, or a failed CPU allocation (PyTorch raises those as RuntimeError with a message)."""
    if isinstance(error, (getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), MemoryError)):
        return True
    return isinstance(error, RuntimeError) and any(s in str(error).lower() for s in _CPU_ALLOCATION_FAILURES)


@dataclass
class Chunk:
    start: int  # index of the chunk's first item in the whole input
    items: list  # the chunk's input items (texts, or (text, pair) tuples)
    arrays: dict  # flat per-token NumPy arrays laid out by cu_seqlens ("input_ids", "token_type_ids", ...)
    cu_seqlens: np.ndarray  # (n + 1,) int64 offsets of each item's tokens

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.cu_seqlens)


@dataclass
class Batch:
    chunk: Chunk
    rows: np.ndarray  # (b,) the batch's rows, as indices into the chunk
    token_index: np.ndarray  # (n,) flat positions of the batch's tokens in the chunk's arrays
    cu_seqlens: np.ndarray  # (b + 1,) int64 offsets of the batch's rows in its packed tokens

    def tokens(self, name: str) -> np.ndarray:
        """The batch's packed slice of one of the chunk's flat arrays."""
        return self.chunk.arrays[name][self.token_index]

    def packed(self, model) -> PackedBatch:
        types = self.tokens("token_type_ids") if "token_type_ids" in self.chunk.arrays else None
        return model.pack(self.tokens("input_ids"), self.cu_seqlens, types)


class Runner:
    """One job: `for chunk in runner.chunks(items, encode)`, then `runner.run(chunk, process)` for its results.

    `process(batch) -> Tensor (b, ...) or list of b results`, one per row of the batch in batch order; tensors may stay
    on the model's device (`run` returns them on the host).
    """

    def __init__(self, desc: str, batch_size=None, max_batch_tokens=None, progress=None, total=None, device=None,
                 token_bytes=None):
        """device: where the model runs (sets the default budget); token_bytes: its widest activation per token
        (`batching.widest_activation_bytes`), which caps the CPU budget."""
        token_budget_batches([], max_batch_tokens, batch_size)  # checks the arguments before any work
        if max_batch_tokens is None and batch_size is None and device is not None:
            max_batch_tokens = default_batch_tokens(device, token_bytes)
        self.batch_size, self.max_batch_tokens = batch_size, max_batch_tokens
        self.desc = desc
        self.prefetch = device is None or torch.device(device).type != "cpu"  # tokenize ahead on a worker thread
        self.bar = Progress(total, progress, desc=desc)
        self.warned = False

    @classmethod
    def for_model(cls, desc: str, model, batch_size=None, max_batch_tokens=None, progress=False, total=None):
        """A job on `model` (an engine): its device and widest activation set the default budget."""
        return cls(desc, batch_size, max_batch_tokens, progress, total, model.device, widest_activation_bytes(model))

    def chunks(self, items, encode, size: int | None = None):
        """Chunk after chunk of `items`, each encoded by `encode(list) -> encode_packed's dict`; from the second on,
        the next chunk is encoded on a worker thread while the caller runs the model on this one (a job of one
        chunk, such as a single text, starts no thread). On the CPU every chunk is encoded here, in turn."""
        parts = chunks(items, size or CHUNK_SIZE)
        if not self.prefetch:
            start = 0
            for part in parts:
                yield self._chunk(start, part, encode(part))
                start += len(part)
            return
        first = next(parts, None)
        if first is None:
            return
        current = (0, first, encode(first))
        following = next(parts, None)
        if following is None:
            yield self._chunk(*current)
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fastenc-tokenize") as worker:
            start = len(first)
            while following is not None:
                pending = (start, following, worker.submit(encode, following))
                start += len(following)
                yield self._chunk(*current)
                current = pending
                following = next(parts, None)
            yield self._chunk(*current)

    @staticmethod
    def _chunk(start, items, encoded) -> Chunk:
        encoded = dict(encoded.result() if hasattr(encoded, "result") else encoded)
        cu_seqlens = np.asarray(encoded.pop("cu_seqlens"), dtype=np.int64)
        return Chunk(start, items, encoded, cu_seqlens)

    def run(self, chunk: Chunk, process, batches=None):
        """Results of `process` for every row of `chunk`, in chunk order: a tensor when `process` returns tensors,
        else a list. `batches` (lists of row indices) default to length-sorted token-budget batches."""
        if batches is None:
            batches = token_budget_batches(chunk.lengths, self.max_batch_tokens, self.batch_size)
        parts = []
        for rows in batches:
            parts.extend(self._run_split(chunk, np.asarray(rows, dtype=np.int64), process))
            self.bar.update(len(rows))
        return _in_order(parts, len(chunk.items))

    def _run_split(self, chunk: Chunk, rows: np.ndarray, process) -> list:
        """[(rows, results)]: one pair, or more when the batch had to be split to fit in memory."""
        try:
            token_index, cu_seqlens = gather_rows(chunk.cu_seqlens, rows)
            return [(rows, process(Batch(chunk, rows, token_index, cu_seqlens)))]
        except Exception as error:  # noqa: BLE001 - anything but out-of-memory is re-raised as it is
            if not is_out_of_memory(error):
                raise
            if len(rows) == 1:
                row = int(rows[0])
                raise MemoryError(
                    f"{self.desc}: text {chunk.start + row} ({int(chunk.lengths[row])} tokens) does not fit in memory "
                    f"even alone: {error}"
                ) from error
            self._note_split(len(rows), error)
        # Outside the except block, so the failed attempt's tensors (held by the traceback) are freed first.
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = len(rows) // 2
        return self._run_split(chunk, rows[:half], process) + self._run_split(chunk, rows[half:], process)

    def _note_split(self, rows: int, error) -> None:
        if not self.warned:
            self.warned = True
            log.warning("%s: a batch of %d texts ran out of memory (%s); halving batches that do not fit, down to "
                        "single texts (no further warnings for this job)", self.desc, rows, str(error).splitlines()[0])

    def close(self) -> None:
        self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _in_order(parts: list, n: int):
    """Scatter [(rows, results)] back to chunk order. Tensor results, wherever the model left them, come to the host
    in one copy per chunk: a copy per batch would make the host wait for each batch before it could queue the next."""
    if parts and isinstance(parts[0][1], torch.Tensor):
        values = torch.cat([v for _, v in parts]).cpu()  # (rows of all parts, ...)
        out = values.new_empty((n, *values.shape[1:]))
        out[torch.from_numpy(np.concatenate([rows for rows, _ in parts]))] = values
        return out
    out = [None] * n
    for rows, values in parts:
        for row, value in zip(rows.tolist(), values, strict=True):
            out[row] = value
    return out


def encoder(tokenizer, *, max_length=None, pairs: bool = False, offsets: bool = False,
            special_tokens_mask: bool = False, check=None):
    """The chunk encoder of a job: `Tokenizer.encode_packed` on a chunk of items ((text, text_pair) tuples with
    `pairs`). When the tokenizer rejects the chunk, `check(texts, name)` names the item at fault: the texts are
    checked one by one in Python only then, so the worker thread does no per-text Python work on good input."""
    def encode(items: list) -> dict:
        texts, seconds = (list(t) for t in zip(*items)) if pairs and items else (items, None)
        try:
            return tokenizer.encode_packed(texts, seconds, max_length=max_length, return_offsets=offsets,
                                           return_special_tokens_mask=special_tokens_mask)
        except (TypeError, ValueError):
            if check is not None:
                check(texts, "texts")
                if seconds is not None:
                    check(seconds, "text_pairs")
            raise
    return encode

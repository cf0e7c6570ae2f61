"""Request inputs -> flat token arrays on worker threads: texts, pairs or token ids, checked against the maximum
length and truncated (right or left) only when the request or --auto-truncate allows it."""
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .errors import ServeError, validation


@dataclass
class Encoded:
    arrays: dict  # flat per-token arrays laid out by cu_seqlens: input_ids, token_type_ids, special_tokens_mask, ...
    cu_seqlens: np.ndarray  # (n + 1,) int64
    items: list  # the inputs as given (texts, (a, b) pairs, or id lists), for results that quote them
    characters: int  # characters of text encoded (x-compute-characters)
    seconds: float = 0.0  # time spent tokenizing

    @property
    def num_tokens(self) -> int:
        return int(self.cu_seqlens[-1])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.cu_seqlens)


def _edges(special: np.ndarray) -> tuple[int, int]:
    """How many special tokens open and close one sequence ((T,) 0/1 mask): what truncation must keep."""
    lead = int(np.argmax(special == 0)) if (special == 0).any() else len(special)
    trail = int(np.argmax(special[::-1] == 0)) if (special == 0).any() else 0
    return lead, trail


def truncate_rows(encoded: Encoded, rows: np.ndarray, max_length: int, direction: str) -> Encoded:
    """Cut `rows` to `max_length` tokens, keeping their opening and closing special tokens, dropping text tokens from
    the end ("right") or the start ("left"), as the tokenizer's own truncation of a single text does."""
    cu = encoded.cu_seqlens
    keep = np.ones(encoded.num_tokens, dtype=bool)  # (N,) tokens that stay
    special = encoded.arrays.get("special_tokens_mask")
    for r in rows.tolist():
        a, b = int(cu[r]), int(cu[r + 1])
        lead, trail = _edges(special[a:b]) if special is not None else (0, 0)
        body = max(max_length - lead - trail, 0)
        first, last = a + lead, b - trail  # the text tokens of the row: [first, last)
        if direction == "right":
            keep[first + body:last] = False
        else:
            keep[first:last - body] = False
    lengths = np.add.reduceat(keep.astype(np.int64), cu[:-1]) if len(cu) > 1 else np.zeros(0, dtype=np.int64)
    new_cu = np.zeros(len(cu), dtype=np.int64)
    np.cumsum(lengths, out=new_cu[1:])
    arrays = {name: array[keep] for name, array in encoded.arrays.items()}
    return Encoded(arrays, new_cu, encoded.items, encoded.characters, encoded.seconds)


class InputEncoder:
    """Tokenizes requests on its own worker threads (the C++ tokenizer releases the GIL), off the event loop."""

    def __init__(self, engine, max_input_length: int, auto_truncate: bool, workers: int, prompts: dict):
        self.engine = engine
        self.tokenizer = engine.tokenizer
        self.max_input_length = max_input_length
        self.auto_truncate = auto_truncate
        self.prompts = prompts
        self.workers = workers
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fastenc-serve-tokenize")

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def encode(self, items: list, *, pairs: bool = False, ids: bool = False, truncate=None, direction: str = "right",
               prompt_name=None, offsets: bool = False, field: str = "inputs") -> Encoded:
        """Runs on a worker thread. `items`: texts, (text, text_pair) tuples with `pairs`, or id lists with `ids`."""
        start = time.perf_counter()
        truncate = self.auto_truncate if truncate is None else truncate
        direction = direction.lower()
        if ids:
            encoded = self._from_ids(items, field)
        else:
            encoded = self._tokenize(items, pairs, prompt_name, offsets, field)
        too_long = np.flatnonzero(encoded.lengths > self.max_input_length)
        if len(too_long):
            i = int(too_long[0])
            if not truncate:
                raise validation(f"{field}[{i}] has {int(encoded.lengths[i])} tokens, more than the maximum "
                                 f"{self.max_input_length}: shorten it or set \"truncate\": true")
            if pairs:
                if direction == "left":
                    raise validation("truncation_direction \"Left\" is not supported for text pairs")
                encoded = self._tokenize(items, pairs, prompt_name, offsets, field, self.max_input_length)
            else:
                encoded = truncate_rows(encoded, too_long, self.max_input_length, direction)
        encoded.seconds = time.perf_counter() - start
        return encoded

    def _tokenize(self, items, pairs, prompt_name, offsets, field, max_length=None) -> Encoded:
        if self.tokenizer is None:
            raise ServeError("backend", "this model folder has no tokenizer files: send token ids")
        firsts, seconds = (list(t) for t in zip(*items)) if pairs else (list(items), None)
        if prompt_name is not None:
            if prompt_name not in self.prompts:
                known = sorted(self.prompts) or "none (the checkpoint has no config_sentence_transformers.json prompts)"
                raise validation(f"prompt_name {prompt_name!r} is not a prompt of this model; known: {known}")
            firsts = [self.prompts[prompt_name] + t for t in firsts]
        try:
            out = dict(self.tokenizer.encode_packed(firsts, seconds, max_length=max_length, return_offsets=offsets,
                                                    return_special_tokens_mask=True))
        except (TypeError, ValueError, UnicodeError) as e:
            raise ServeError("tokenizer", f"{field}: the tokenizer refused the input: {e}") from e
        cu = np.asarray(out.pop("cu_seqlens"), dtype=np.int64)
        characters = sum(map(len, firsts)) + (sum(map(len, seconds)) if seconds else 0)
        return Encoded(out, cu, list(items), characters)

    def _from_ids(self, items, field) -> Encoded:
        vocab = self.engine.config.vocab_size
        lengths = np.fromiter((len(row) for row in items), dtype=np.int64, count=len(items))
        for i in np.flatnonzero(lengths == 0).tolist()[:1]:
            raise validation(f"{field}[{i}] is an empty list of token ids")
        flat = [token for row in items for token in row]
        if any(not 0 <= t < vocab for t in flat):
            i = next(i for i, row in enumerate(items) if any(not 0 <= t < vocab for t in row))
            raise validation(f"{field}[{i}] holds token ids outside [0, {vocab}), the model's vocabulary")
        cu = np.zeros(len(items) + 1, dtype=np.int64)
        np.cumsum(lengths, out=cu[1:])
        ids = np.asarray(flat, dtype=np.int64)
        arrays = {"input_ids": ids, "token_type_ids": np.zeros_like(ids)}
        return Encoded(arrays, cu, list(items), 0)

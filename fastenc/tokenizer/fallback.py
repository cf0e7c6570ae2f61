"""Tokenizers whose pipeline fastenc's C++ core does not implement (SentencePiece Unigram, WordPiece with other
normalizers, ...) run through the `tokenizers` library; this adapter gives them the core's batch interface."""
import threading

import numpy as np

_STRATEGIES = {1: "longest_first", 2: "only_first", 3: "only_second"}


class LibraryBackend:
    def __init__(self, path):
        from tokenizers import Tokenizer as HFTokenizer

        try:
            self.library = HFTokenizer.from_file(str(path))
        except Exception as e:  # the library raises a bare Exception for files it cannot parse
            raise ValueError(f"{str(path)!r}: the tokenizers library cannot read it: {e}") from e
        self.library.no_truncation()
        self.library.no_padding()
        self._lock = threading.Lock()  # truncation is per-call state on the library object

    def _encode(self, inputs, truncation, max_length, add_special_tokens=True):
        with self._lock:
            if truncation:
                self.library.enable_truncation(max_length, strategy=_STRATEGIES[truncation])
            try:
                return self.library.encode_batch(inputs, add_special_tokens=add_special_tokens)
            finally:
                self.library.no_truncation()

    def encode_packed(self, texts, pairs, truncation, max_length, return_offsets, return_special_tokens_mask,
                      max_threads):
        """The core's packed layout, built by concatenating each encoding's lists in NumPy."""
        _check_items(texts, "texts")
        if pairs is not None:
            _check_items(pairs, "text_pairs")
        inputs = list(texts) if pairs is None else list(zip(texts, pairs))
        try:
            encodings = self._encode(inputs, truncation, max_length)
        except TypeError:  # the library's message for a lone surrogate names nothing; name it as the core does
            _raise_for_surrogates(texts, pairs, "texts", "text_pairs")
            raise
        cu_seqlens = np.zeros(len(encodings) + 1, dtype=np.int64)
        np.cumsum([len(e.ids) for e in encodings], out=cu_seqlens[1:])

        def flat(field, dtype, shape=()):
            if not encodings or cu_seqlens[-1] == 0:
                return np.zeros((0,) + shape, dtype)
            return np.concatenate([np.asarray(getattr(e, field), dtype).reshape((-1,) + shape) for e in encodings])

        out = dict(input_ids=flat("ids", np.int64), token_type_ids=flat("type_ids", np.int64), cu_seqlens=cu_seqlens)
        if return_offsets:
            out["offset_mapping"] = flat("offsets", np.int64, (2,))
        if return_special_tokens_mask:
            out["special_tokens_mask"] = flat("special_tokens_mask", np.int8)
        return out

    def encode_batch(self, texts, pairs, add_special_tokens, truncation, max_length, padding, pad_length,
                     pad_to_multiple_of, pad_id, pad_type_id, pad_left, return_offsets, return_special_tokens_mask,
                     max_threads):
        inputs = list(texts) if pairs is None else list(zip(texts, pairs))
        encodings = self._encode(inputs, truncation, max_length, add_special_tokens)
        lengths = [len(e.ids) for e in encodings]
        longest = max(lengths, default=0)

        def round_up(n):
            return -(-n // pad_to_multiple_of) * pad_to_multiple_of if pad_to_multiple_of else n

        targets = [n if padding == 0 else round_up(longest) if padding == 1 else max(n, round_up(pad_length))
                   for n in lengths]
        row_start = np.zeros(len(encodings) + 1, dtype=np.int64)
        np.cumsum(targets, out=row_start[1:])
        total = int(row_start[-1])
        out = dict(input_ids=np.full(total, pad_id, np.int64), token_type_ids=np.full(total, pad_type_id, np.int64),
                   attention_mask=np.zeros(total, np.int64))
        if return_offsets:
            out["offset_mapping"] = np.zeros((total, 2), np.int64)
        if return_special_tokens_mask:
            out["special_tokens_mask"] = np.ones(total, np.int64)
        for r, e in enumerate(encodings):
            n = lengths[r]
            base = int(row_start[r]) + (targets[r] - n if pad_left else 0)
            out["input_ids"][base:base + n] = e.ids
            out["token_type_ids"][base:base + n] = e.type_ids
            out["attention_mask"][base:base + n] = 1
            if return_offsets and n:
                out["offset_mapping"][base:base + n] = e.offsets
            if return_special_tokens_mask:
                out["special_tokens_mask"][base:base + n] = e.special_tokens_mask
        out["row_start"] = row_start
        out["width"] = targets[0] if targets and all(t == targets[0] for t in targets) else (-1 if targets else 0)
        return out


def _check_items(items, name):
    """The core's message for a non-str item (the library's own names no argument)."""
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"{name}[{i}] must be str, not {type(item).__name__}")


def _raise_for_surrogates(texts, pairs, text_name, pair_name):
    """Raises the core's ValueError for the first lone surrogate (lowest row, text before pair), if any."""
    for row in range(len(texts)):
        for name, items in ((text_name, texts), (pair_name, pairs)):
            if items is None:
                continue
            try:
                items[row].encode("utf-8")
            except UnicodeEncodeError as error:
                bad = ord(items[row][error.start])
                raise ValueError(f"{name}[{row}] is not valid Unicode: lone surrogate U+{bad:04X} at index "
                                 f"{error.start}") from None

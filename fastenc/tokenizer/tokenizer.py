"""fastenc.Tokenizer: a thin Python face over the C++ tokenizer core (fastenc._C), with the call signature and
outputs of a transformers fast tokenizer (same names, values and shapes)."""
import logging
import unicodedata
from itertools import chain
from pathlib import Path

import numpy as np

from .. import _C, hub
from .decode import clean_up_tokenization, decode_byte_level, decode_wordpiece
from .fallback import LibraryBackend
from .files import ROLES, TokenizerSpec, read_folder

log = logging.getLogger(__name__)

VERY_LARGE_INTEGER = int(1e30)  # transformers' "no limit" model_max_length
_TRUNCATION = {"longest_first": 1, "only_first": 2, "only_second": 3}
_ROLE_DEFAULTS = {
    "wordpiece": dict(unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]",
                      mask_token="[MASK]"),
    "byte_level_bpe": dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", sep_token="</s>", pad_token="<pad>",
                           cls_token="<s>", mask_token="<mask>"),
}


class BatchEncoding(dict):
    """The dict transformers returns, with attribute access (`enc.input_ids`)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class Tokenizer:
    """Tokenizer for BERT-family encoders: WordPiece and byte-level BPE natively, anything else via `tokenizers`."""

    def __init__(self, spec: TokenizerSpec, name_or_path: str = ""):
        self.name_or_path = name_or_path
        self.num_threads = None  # None: every thread of the pool (all cores, or FASTENC_NUM_THREADS)
        self._spec = spec
        config = spec.config
        self.model_max_length = config.get("model_max_length") or VERY_LARGE_INTEGER
        if isinstance(self.model_max_length, float) and self.model_max_length.is_integer():
            self.model_max_length = int(self.model_max_length)  # some configs write 1e30 or 512.0
        if isinstance(self.model_max_length, bool) or not isinstance(self.model_max_length, int) \
                or self.model_max_length < 1:
            raise ValueError(f"{name_or_path}: tokenizer_config.json's model_max_length must be a positive int, got "
                             f"{self.model_max_length!r}")
        self.padding_side = config.get("padding_side", "right")
        self.clean_up_tokenization_spaces = bool(config.get("clean_up_tokenization_spaces", False))
        self.model_input_names = spec.model_input_names

        self._nfc_backend = None  # the tokenizers library, for batches with a text NFC would change (spec.nfc)
        if spec.native:
            self._backend = self._build_core(spec)
            vocab = dict(spec.vocab)
        else:
            log.debug("%s runs through the tokenizers library (model not built into fastenc)", name_or_path)
            self._backend = LibraryBackend(spec.tokenizer_json)
            vocab = self._backend.library.get_vocab(with_added_tokens=False)
        self.vocab_size = len(vocab)
        for token in spec.added_tokens:
            vocab[token["content"]] = token["id"]
        self._token_to_id = vocab
        self._id_to_token = {i: t for t, i in vocab.items()}
        self._special_added_ids = {t["id"] for t in spec.added_tokens if t.get("special")}

        defaults = _ROLE_DEFAULTS.get(spec.kind, {})
        for role in ROLES:
            token = config.get(role, defaults.get(role) if role not in config else None)
            if token is not None and token not in vocab:
                token = None
            setattr(self, role, token)
            setattr(self, role + "_id", None if token is None else vocab[token])

    @staticmethod
    def _build_core(spec: TokenizerSpec):
        unk_id = -1
        if spec.kind == "wordpiece":
            unk_id = next((t["id"] for t in spec.added_tokens if t["content"] == spec.unk_token),
                          spec.vocab.get(spec.unk_token, -1))
        added = [(t["content"], int(t["id"]), bool(t.get("special")), bool(t.get("lstrip")), bool(t.get("rstrip")),
                  bool(t.get("single_word")), bool(t.get("normalized"))) for t in spec.added_tokens]
        return _C.Tokenizer(
            model=spec.kind, vocab=list(spec.vocab.items()), merges=list(spec.merges), unk_id=unk_id,
            continuing_subword_prefix=spec.continuing_subword_prefix,
            max_input_chars_per_word=int(spec.max_input_chars_per_word), **spec.normalizer,
            add_prefix_space=spec.add_prefix_space, trim_offsets=spec.trim_offsets, added_tokens=added,
            single=spec.single, pair=spec.pair)

    @classmethod
    def from_pretrained(cls, name_or_path) -> "Tokenizer":
        """Load from a local folder or a Hub id (resolved like models, see fastenc.hub)."""
        folder = hub.resolve_folder(name_or_path, files=hub.TOKENIZER_FILES, need_weights=False)
        return cls(read_folder(Path(folder)), str(name_or_path))

    # ----------------------------------------------------------------------------------------------------------
    # Vocabulary

    @property
    def is_native(self) -> bool:
        """True when the C++ core runs this tokenizer; False when the `tokenizers` library does."""
        return self._spec.native

    def __len__(self):
        return len(self._token_to_id)

    def get_vocab(self) -> dict:
        return dict(self._token_to_id)

    @property
    def all_special_tokens(self) -> list:
        out = []
        for role in ROLES:
            token = getattr(self, role)
            if token is not None and token not in out:
                out.append(token)
        return out

    @property
    def all_special_ids(self) -> list:
        return [self._token_to_id[t] for t in self.all_special_tokens]

    def convert_tokens_to_ids(self, tokens):
        if isinstance(tokens, str):
            return self._token_to_id.get(tokens, self.unk_token_id)
        return [self._token_to_id.get(t, self.unk_token_id) for t in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        if isinstance(ids, (int, np.integer)):
            return self._id_to_token.get(int(ids))
        ids = _as_id_list(ids)
        return [self._id_to_token.get(i) for i in ids if not (skip_special_tokens and i in self._special_added_ids)]

    def tokenize(self, text: str, text_pair: str | None = None) -> list:
        return self.convert_ids_to_tokens(self.encode(text, text_pair, add_special_tokens=False))

    # ----------------------------------------------------------------------------------------------------------
    # Encoding

    def encode(self, text, text_pair=None, add_special_tokens: bool = True, truncation=None, max_length=None) -> list:
        _check_str(text, "text")
        if text_pair is not None:
            _check_str(text_pair, "text_pair")
        return self(text, text_pair, add_special_tokens=add_special_tokens, truncation=truncation,
                    max_length=max_length)["input_ids"]

    def __call__(self, text, text_pair=None, add_special_tokens: bool = True, padding=False, truncation=None,
                 max_length=None, pad_to_multiple_of=None, return_tensors=None, return_token_type_ids=None,
                 return_attention_mask=None, return_offsets_mapping: bool = False,
                 return_special_tokens_mask: bool = False) -> BatchEncoding:
        batched, texts, pairs = _as_batch(text, text_pair)
        if return_tensors not in (None, "np", "pt"):
            raise ValueError(f"return_tensors must be None, 'np' or 'pt', not {return_tensors!r}")

        # max_length=0 is valid for HF (below the special tokens it truncates nothing); a multiple of 0 is not.
        for name, value, least in (("max_length", max_length, 0), ("pad_to_multiple_of", pad_to_multiple_of, 1)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < least):
                kind = "a non-negative" if least == 0 else "a positive"
                raise ValueError(f"{name} must be {kind} int or None, got {value!r}")
        pad_mode = _padding_mode(padding)
        trunc_mode = _truncation_mode(truncation, max_length, pad_mode)
        if trunc_mode and max_length is None:
            if self.model_max_length >= VERY_LARGE_INTEGER:
                log.warning("truncation requested without max_length and the tokenizer has no model_max_length; "
                            "not truncating")
                trunc_mode = 0
            max_length = self.model_max_length
        pad_length = 0
        if pad_mode == 2:
            pad_length = max_length if max_length is not None else self.model_max_length
            if pad_length >= VERY_LARGE_INTEGER:
                log.warning("padding='max_length' without max_length and no model_max_length; padding to longest")
                pad_mode, pad_length = 1, 0
        if trunc_mode and pad_mode and pad_to_multiple_of and max_length and max_length % pad_to_multiple_of:
            raise ValueError(f"Truncation and padding are both activated but truncation length ({max_length}) is "
                             f"not a multiple of pad_to_multiple_of ({pad_to_multiple_of}).")
        if pad_mode and self.pad_token_id is None:
            raise ValueError("this tokenizer has no pad_token, so it cannot pad")

        result = self._backend_for(texts, pairs).encode_batch(
            texts, pairs, add_special_tokens=add_special_tokens, truncation=trunc_mode,
            max_length=int(max_length or 0), padding=pad_mode, pad_length=int(pad_length),
            pad_to_multiple_of=int(pad_to_multiple_of or 0),
            pad_id=self.pad_token_id if self.pad_token_id is not None else 0, pad_type_id=0,
            pad_left=self.padding_side == "left", return_offsets=bool(return_offsets_mapping),
            return_special_tokens_mask=bool(return_special_tokens_mask), max_threads=int(self.num_threads or 0))

        names = ["input_ids"]
        if return_token_type_ids or (return_token_type_ids is None and "token_type_ids" in self.model_input_names):
            names.append("token_type_ids")
        if return_attention_mask or (return_attention_mask is None and "attention_mask" in self.model_input_names):
            names.append("attention_mask")
        if return_offsets_mapping:
            names.append("offset_mapping")
        if return_special_tokens_mask:
            names.append("special_tokens_mask")
        if return_tensors is not None:
            width = result["width"]  # every row's length, or -1 when they differ
            if width < 0:
                raise ValueError(f"cannot make a tensor of {names[0]}: rows have different lengths; use padding=True "
                                 "or padding='max_length' with truncation=True")
            rows = len(result["row_start"]) - 1
            return BatchEncoding({name: _as_tensor(result[name], rows, width, return_tensors) for name in names})
        bounds = result["row_start"].tolist()
        return BatchEncoding({name: _as_lists(result[name], bounds, name, batched) for name in names})

    def encode_packed(self, texts, text_pairs=None, *, max_length=None, return_offsets: bool = False,
                      return_special_tokens_mask: bool = False) -> dict:
        """Encodes a batch into flat NumPy arrays, the rows laid end to end without padding.

        Returns "input_ids" and "token_type_ids" (N,) int64 and "cu_seqlens" (B+1,) int64 (row i is tokens
        cu_seqlens[i]:cu_seqlens[i+1]); with the flags, "offset_mapping" (N, 2) int64 and "special_tokens_mask"
        (N,) int8. Special tokens are added; `max_length` truncates as `tokenizer(texts, text_pairs,
        truncation=True, max_length=max_length)` does (longest_first for pairs); None means no truncation.
        """
        _, texts, pairs = _as_batch(texts, text_pairs, "texts", "text_pairs")
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer))
                                       or max_length < 0):
            raise ValueError(f"max_length must be a non-negative int or None, not {max_length!r}")
        return self._backend_for(texts, pairs).encode_packed(
            texts, pairs, truncation=0 if max_length is None else 1, max_length=int(max_length or 0),
            return_offsets=bool(return_offsets), return_special_tokens_mask=bool(return_special_tokens_mask),
            max_threads=int(self.num_threads or 0))

    def _backend_for(self, texts, pairs):
        """The C++ core, unless the tokenizer normalizes to NFC and a text of the batch is not NFC already: the
        core does not normalize, so that batch runs through the tokenizers library (same ids and offsets)."""
        if self._spec.nfc and not all(not isinstance(t, str) or unicodedata.is_normalized("NFC", t)
                                      for t in chain(texts, pairs or ())):
            if self._nfc_backend is None:
                log.debug("%s: a text is not in NFC; such batches run through the tokenizers library",
                          self.name_or_path)
                self._nfc_backend = LibraryBackend(self._spec.tokenizer_json)
            return self._nfc_backend
        return self._backend

    # ----------------------------------------------------------------------------------------------------------
    # Decoding

    def convert_tokens_to_string(self, tokens: list) -> str:
        """Token strings joined by the tokenizer's decoder alone (no clean-up), as transformers does."""
        if not self._spec.native:
            return self._backend.library.decoder.decode(tokens)
        decoder = self._spec.decoder
        if decoder.get("type") == "WordPiece":
            return decode_wordpiece(tokens, decoder.get("prefix", "##"), decoder.get("cleanup", True))
        if decoder.get("type") == "ByteLevel":
            return decode_byte_level(tokens)
        return " ".join(tokens)

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces=None) -> str:
        ids = _as_id_list(token_ids)
        if not self._spec.native:
            text = self._backend.library.decode(ids, skip_special_tokens=skip_special_tokens)
        else:
            tokens = [self._id_to_token[i] for i in ids
                      if i in self._id_to_token and not (skip_special_tokens and i in self._special_added_ids)]
            text = self.convert_tokens_to_string(tokens)
        cleanup = self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None \
            else clean_up_tokenization_spaces
        return clean_up_tokenization(text) if cleanup else text

    def batch_decode(self, sequences, skip_special_tokens: bool = False, clean_up_tokenization_spaces=None) -> list:
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces) for s in _as_rows(sequences)]

    def __repr__(self):
        engine = "fastenc C++ " + self._spec.kind if self._spec.native else "tokenizers library"
        return f"Tokenizer({self.name_or_path!r}, {engine}, vocab_size={self.vocab_size})"


def _as_batch(text, text_pair, text_name="text", pair_name="text_pair"):
    """(batched, texts, pairs or None) from a str or a list of str and its optional pair(s)."""
    if isinstance(text, (list, tuple)):
        texts = list(text)
        pairs = None
        if text_pair is not None:
            if not isinstance(text_pair, (list, tuple)):
                raise TypeError(f"{pair_name} must be a list of str when {text_name} is a list, not "
                                f"{type(text_pair).__name__}")
            pairs = list(text_pair)
            if len(pairs) != len(texts):
                raise ValueError(f"{text_name} has {len(texts)} items but {pair_name} has {len(pairs)}")
        return True, texts, pairs
    _check_str(text, text_name, batch_ok=True)
    if text_pair is not None:
        _check_str(text_pair, pair_name)
        return False, [text], ([text_pair] if text_pair else None)  # transformers: an empty pair string is no pair
    return False, [text], None


def _check_str(value, name, batch_ok=False):
    if not isinstance(value, str):
        expected = "a str or a list of str" if batch_ok else "a str"
        raise TypeError(f"{name} must be {expected}, not {type(value).__name__}")


def _padding_mode(padding) -> int:
    if padding is True or padding == "longest":
        return 1
    if padding == "max_length":
        return 2
    if padding is False or padding is None or padding == "do_not_pad":
        return 0
    raise ValueError(f"padding must be True, False, 'longest', 'max_length' or 'do_not_pad', not {padding!r}")


def _truncation_mode(truncation, max_length, pad_mode) -> int:
    if truncation is None:
        # transformers: a max_length without padding or explicit truncation means longest_first.
        return 1 if max_length is not None and pad_mode == 0 else 0
    if truncation is True:
        return 1
    if truncation is False or truncation == "do_not_truncate":
        return 0
    if truncation in _TRUNCATION:
        return _TRUNCATION[truncation]
    raise ValueError(f"truncation must be True, False, 'longest_first', 'only_first' or 'only_second', "
                     f"not {truncation!r}")


def _as_tensor(flat, rows, width, return_tensors):
    """(rows * width, ...) -> (rows, width, ...), a view; torch shares the buffer."""
    array = flat.reshape((rows, width) + flat.shape[1:])
    if return_tensors == "pt":
        import torch

        return torch.from_numpy(array)
    return array


def _as_lists(flat, bounds, name, batched):
    if name == "offset_mapping":  # transformers gives (start, end) tuples
        values = list(zip(flat[:, 0].tolist(), flat[:, 1].tolist()))
    else:
        values = flat.tolist()
    out = [values[bounds[r]:bounds[r + 1]] for r in range(len(bounds) - 1)]
    return out if batched else out[0]


def _as_id_list(ids, name: str = "token_ids") -> list:
    """One sequence of ids as a list of non-negative ints. Ids past the vocabulary are left for decode to drop, as
    the `tokenizers` library does; negative, float, bool or non-numeric ids are refused (int() would truncate 1.7 and
    read b"ab" as two ids)."""
    if hasattr(ids, "tolist"):
        ids = ids.tolist()
    if isinstance(ids, int) and not isinstance(ids, bool):
        ids = [ids]
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple)):
        raise TypeError(f"{name} must be an int, a list of ints, a 1-D array or tensor, not {type(ids).__name__}")
    for i, value in enumerate(ids):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name}[{i}] must be an int, not {type(value).__name__} ({value!r:.40})")
        if value < 0:
            raise ValueError(f"{name}[{i}] is {value}: token ids are never negative")
    return [int(i) for i in ids]


def _as_rows(sequences):
    if hasattr(sequences, "tolist"):
        sequences = sequences.tolist()
    return sequences

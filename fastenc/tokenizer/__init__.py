"""The tokenizer package: the Python face of the C++ core (csrc/): `Tokenizer` (tokenizer.py), reading tokenizer
files into a spec (files.py), decoding (decode.py) and the `tokenizers`-library fallback (fallback.py)."""
from .tokenizer import BatchEncoding, Tokenizer

__all__ = ["BatchEncoding", "Tokenizer"]

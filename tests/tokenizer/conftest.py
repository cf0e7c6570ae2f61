"""Fixtures for the tokenizer tests (defined in tokenizer_helpers.py, beside this file)."""
from tokenizer_helpers import corpus, corpus_lines, tokenizer_pairs  # noqa: F401

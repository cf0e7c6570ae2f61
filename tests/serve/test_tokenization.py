"""Truncation on the flat token arrays equals the tokenizer's own (right), keeps the special tokens at both ends
(left), and inputs are refused with their index when truncation is not allowed."""
import numpy as np
import pytest

from fastenc.serve.errors import ServeError
from fastenc.serve.tokenization import InputEncoder

TEXTS = ["short one", "a much longer text with many many words in it to cut", "x", "another long text to truncate here"]


@pytest.fixture(scope="module", params=["mlm", "reranker"])  # WordPiece (BERT) and byte-level BPE (RoBERTa)
def engine(request, engines):
    return engines[request.param]


def rows(encoded):
    cu = encoded.cu_seqlens.tolist()
    return [encoded.arrays["input_ids"][a:b].tolist() for a, b in zip(cu[:-1], cu[1:])]


def test_right_truncation_equals_the_tokenizer(engine):
    encoder = InputEncoder(engine, 6, False, 1, {})
    try:
        got = encoder.encode(TEXTS, truncate=True, offsets=True)
        assert rows(got) == [engine.tokenizer.encode(t, truncation=True, max_length=6) for t in TEXTS]
        expected = engine.tokenizer.encode_packed(TEXTS, max_length=6, return_offsets=True)
        np.testing.assert_array_equal(got.arrays["offset_mapping"], expected["offset_mapping"])
    finally:
        encoder.close()


def test_left_truncation_keeps_the_end_and_the_special_tokens(engine):
    encoder = InputEncoder(engine, 6, True, 1, {})  # --auto-truncate
    try:
        got = rows(encoder.encode(TEXTS, direction="Left"))
        for text, row in zip(TEXTS, got):
            full = engine.tokenizer.encode(text)
            assert row == (full if len(full) <= 6 else full[:1] + full[len(full) - 5:])
    finally:
        encoder.close()


def test_over_length_refused_naming_the_input(engine):
    encoder = InputEncoder(engine, 6, False, 1, {"query": "query: "})
    try:
        with pytest.raises(ServeError, match=r"inputs\[1\] has \d+ tokens, more than the maximum 6") as info:
            encoder.encode(TEXTS)
        assert info.value.status == 422
        prompted = rows(encoder.encode(["x"], prompt_name="query"))
        assert prompted == [engine.tokenizer.encode("query: x")]
    finally:
        encoder.close()

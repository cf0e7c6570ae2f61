"""ModernBERT's tokenizer.json (NFC + byte-level BPE, GPT-NeoX style) through fastenc.Tokenizer: the C++ core, exact
parity with the transformers fast tokenizer on the shared corpus, and NFC handled without a C++ normalizer."""
import logging

import numpy as np
import pytest

from fastenc.tokenizer import Tokenizer
from real_vocab_checkpoints import write_tokenizer
from tokenizer_helpers import assert_same


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("modernbert-tokenizer")
    reference = write_tokenizer("modernbert", folder)
    return reference, Tokenizer.from_pretrained(folder)


def test_runs_on_the_cpp_core(pair):
    reference, ours = pair
    assert ours.is_native
    assert (ours.cls_token, ours.sep_token, ours.pad_token, ours.mask_token) == ("[CLS]", "[SEP]", "[PAD]", "[MASK]")
    assert (ours.cls_token_id, ours.mask_token_id) == (reference.cls_token_id, reference.mask_token_id)
    assert ours.model_input_names == ["input_ids", "attention_mask"] and len(ours) == len(reference)


def test_corpus_singles_and_pairs_with_offsets(pair, corpus_lines):
    reference, ours = pair
    kwargs = dict(return_offsets_mapping=True, return_special_tokens_mask=True)
    assert_same(ours(corpus_lines, **kwargs), reference(corpus_lines, **kwargs), corpus_lines, "modernbert/singles")
    firsts, seconds = corpus_lines[0:-1:4], corpus_lines[1::4]
    kwargs.update(truncation=True, max_length=32)
    assert_same(ours(firsts, seconds, **kwargs), reference(firsts, seconds, **kwargs), firsts, "modernbert/pairs",
                seconds)


def test_packed_matches_the_padded_call(pair, corpus_lines):
    reference, ours = pair
    lines = corpus_lines[::29]
    packed = ours.encode_packed(lines, max_length=64)
    padded = reference(lines, truncation=True, max_length=64)["input_ids"]
    assert packed["input_ids"].tolist() == [i for row in padded for i in row]
    assert np.diff(packed["cu_seqlens"]).tolist() == [len(row) for row in padded]


CASES = ["Hello  world,   spaced    out        far", "a [MASK] b", "two[MASK]", "  [MASK]  ", "tabs\tand\nlines",
         "emoji \U0001F600 and \u00e9", "", " ", "[CLS] in text [SEP]", "x" * 300]


def test_space_runs_mask_stripping_and_edge_cases(pair):
    reference, ours = pair
    kwargs = dict(return_offsets_mapping=True)
    assert_same(ours(CASES, **kwargs), reference(CASES, **kwargs), CASES, "modernbert/cases")
    for text in CASES:
        ids = reference(text)["input_ids"]
        assert ours.decode(ids) == reference.decode(ids)
        assert ours.decode(ids, skip_special_tokens=True) == reference.decode(ids, skip_special_tokens=True)


def test_texts_nfc_would_change_run_through_the_library(pair, caplog):
    """e + combining acute is one character after NFC: the core does not normalize, so such a batch takes the
    tokenizers library (same ids, offsets into the original text); already-NFC batches stay on the core."""
    reference, ours = pair
    texts = ["caf\u0065\u0301 au lait", "plain text", "\u212b ngstrom"]  # decomposed e-acute; the angstrom sign
    with caplog.at_level(logging.DEBUG, logger="fastenc.tokenizer.tokenizer"):
        got = ours(texts, return_offsets_mapping=True)
    assert_same(got, reference(texts, return_offsets_mapping=True), texts, "modernbert/nfc")
    assert "not in NFC" in caplog.text
    assert ours._backend_for(["plain text", "caf\u00e9"], None) is ours._backend  # NFC already: the C++ core
    packed = ours.encode_packed(texts)
    assert packed["input_ids"].tolist() == [i for row in reference(texts)["input_ids"] for i in row]

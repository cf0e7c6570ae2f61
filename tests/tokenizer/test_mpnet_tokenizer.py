"""MPNet's tokenizer (WordPiece with RoBERTa's special tokens and template, a <mask> that absorbs the space before it)
through fastenc.Tokenizer: the C++ core, exact parity with transformers' MPNetTokenizer on the shared corpus, from its
tokenizer.json and from a vocab.txt-only folder."""
import json

import numpy as np
import pytest

from fastenc.tokenizer import Tokenizer
from real_vocab_checkpoints import mpnet_vocab, write_tokenizer
from tokenizer_helpers import assert_same


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    """(transformers' MPNetTokenizer, ours from its tokenizer.json, ours from vocab.txt + tokenizer_config.json)."""
    folder = tmp_path_factory.mktemp("mpnet-tokenizer")
    reference = write_tokenizer("mpnet", folder)
    plain = tmp_path_factory.mktemp("mpnet-vocab-txt")
    (plain / "vocab.txt").write_text("\n".join(mpnet_vocab()) + "\n", encoding="utf-8")
    (plain / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "MPNetTokenizer",
                                                             "do_lower_case": True, "model_max_length": 512}))
    return reference, Tokenizer.from_pretrained(folder), Tokenizer.from_pretrained(plain)


def test_runs_on_the_cpp_core(tokenizers):
    reference, *ours = tokenizers
    for tok in ours:
        assert tok.is_native
        assert (tok.cls_token, tok.sep_token, tok.pad_token, tok.mask_token, tok.unk_token) == (
            "<s>", "</s>", "<pad>", "<mask>", "[UNK]")
        assert (tok.cls_token_id, tok.pad_token_id, tok.mask_token_id) == (0, 1, reference.mask_token_id)
        assert tok.model_input_names == ["input_ids", "attention_mask"] and len(tok) == len(reference)


@pytest.mark.parametrize("source", [1, 2], ids=["tokenizer.json", "vocab.txt"])
def test_corpus_singles_and_pairs_with_offsets(tokenizers, corpus_lines, source):
    reference, ours = tokenizers[0], tokenizers[source]
    if source == 2:
        corpus_lines = corpus_lines[::5]  # the same core as tokenizer.json's; a fifth of the corpus checks the set-up
    kwargs = dict(return_offsets_mapping=True, return_special_tokens_mask=True)
    assert_same(ours(corpus_lines, **kwargs), reference(corpus_lines, **kwargs), corpus_lines, "mpnet/singles")
    firsts, seconds = corpus_lines[0:-1:4], corpus_lines[1::4]  # <s> a </s></s> b </s>
    kwargs.update(truncation=True, max_length=32)
    assert_same(ours(firsts, seconds, **kwargs), reference(firsts, seconds, **kwargs), firsts, "mpnet/pairs",
                seconds)


CASES = ["a <mask> b", "two<mask>", "  <mask>  ", "<mask>", "The <mask> <mask> here.", "<s> in text </s>",
         "[CLS] [MASK] [SEP]", "Ünïcödé  tabs\tand\nlines", "", " ", "x" * 300]


@pytest.mark.parametrize("source", [1, 2], ids=["tokenizer.json", "vocab.txt"])
def test_mask_stripping_specials_and_decode(tokenizers, source):
    reference, ours = tokenizers[0], tokenizers[source]
    kwargs = dict(return_offsets_mapping=True)
    assert_same(ours(CASES, **kwargs), reference(CASES, **kwargs), CASES, "mpnet/cases")
    for text in CASES:
        ids = reference(text)["input_ids"]
        assert ours.decode(ids) == reference.decode(ids)
        assert ours.decode(ids, skip_special_tokens=True) == reference.decode(ids, skip_special_tokens=True)


def test_packed_matches_the_padded_call(tokenizers, corpus_lines):
    reference, ours, _ = tokenizers
    lines = corpus_lines[::29]
    packed = ours.encode_packed(lines, max_length=64)
    padded = reference(lines, truncation=True, max_length=64)["input_ids"]
    assert packed["input_ids"].tolist() == [i for row in padded for i in row]
    assert np.diff(packed["cu_seqlens"]).tolist() == [len(row) for row in padded]

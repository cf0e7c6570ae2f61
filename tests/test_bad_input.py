"""Bad input on every public surface (docs/BAD_INPUT.md): each row is a clear error naming the argument, or the
documented result. Tiny checkpoints with the real bert-base-uncased vocabulary; public API only."""
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import fastenc
from real_vocab_checkpoints import NER_LABELS, build_with_tokenizer

LONG_TEXT = "word " * 200_000  # 10**6 characters


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-input")
    heads = {"mlm": ("ForMaskedLM", None), "cls": ("ForSequenceClassification", None),
             "ner": ("ForTokenClassification", NER_LABELS)}
    for name, (head, labels) in heads.items():
        build_with_tokenizer("bert", head, root / name, labels=labels)
    return root


@pytest.fixture(scope="module")
def models(folders):
    return {name: fastenc.load(folders / name) for name in ("mlm", "cls", "ner")}


# The text calls, each taking one `texts`-like argument (name used in the error messages).
TEXT_CALLS = {
    "tokenizer": (lambda m, x: m["mlm"].tokenizer(x), "text"),
    "tokenizer.encode": (lambda m, x: m["mlm"].tokenizer.encode(x), "text"),
    "encode": (lambda m, x: m["mlm"].encode(x), "sentence 0"),
    "embed": (lambda m, x: m["mlm"].embed(x), "texts"),
    "classify": (lambda m, x: m["cls"].classify(x), "texts"),
    "tag": (lambda m, x: m["ner"].tag(x), "texts"),
    "fill_mask": (lambda m, x: m["mlm"].fill_mask(x), "texts"),
    "mlm_loss": (lambda m, x: m["mlm"].mlm_loss(x), "texts"),
}
NOT_TEXT = {"None": None, "int": 5, "float": 1.5, "bytes": b"hello", "dict": {"a": 1}}
MIXED = {"mixed list": ["fine", 3, None], "list of bytes": [b"hello"]}


@pytest.mark.parametrize("value", NOT_TEXT.values(), ids=NOT_TEXT.keys())
@pytest.mark.parametrize("call", TEXT_CALLS)
def test_text_calls_refuse_non_text(models, call, value):
    fn, name = TEXT_CALLS[call]
    with pytest.raises(TypeError, match=f"^{name}"):
        fn(models, value)


@pytest.mark.parametrize("value", MIXED.values(), ids=MIXED.keys())
@pytest.mark.parametrize("call", [c for c in TEXT_CALLS if c not in ("tokenizer.encode", "encode")])
def test_text_lists_with_a_non_str_item_name_the_item(models, call, value):
    fn, name = TEXT_CALLS[call]
    bad = next(i for i, v in enumerate(value) if not isinstance(v, str))
    with pytest.raises(TypeError, match=rf"^{name}\[{bad}\] must be (a )?str"):
        fn(models, value)


@pytest.mark.parametrize("call", ["tokenizer.encode", "encode"])
def test_single_text_calls_refuse_lists(models, call):
    fn, name = TEXT_CALLS[call]
    with pytest.raises(TypeError, match=f"^{name} must be a str, not list"):
        fn(models, ["a", 1])


def test_empty_string_results(models):
    mlm, tok = models["mlm"], models["mlm"].tokenizer
    assert tok.encode("") == [tok.cls_token_id, tok.sep_token_id]
    assert mlm.encode("").tolist() == [tok.cls_token_id, tok.sep_token_id]
    assert mlm.embed("").shape == (1, mlm.config.hidden_size)
    assert set(models["cls"].classify("")) == {"label", "score", "scores"}
    assert models["ner"].tag("") == []
    with pytest.raises(ValueError, match="text 0 has no mask token"):
        mlm.fill_mask("")
    with pytest.raises(ValueError, match="no token of texts was masked"):
        mlm.mlm_loss("")


def test_empty_list_results(models):
    mlm = models["mlm"]
    assert mlm.tokenizer([])["input_ids"] == []
    assert mlm.tokenizer([], return_tensors="pt")["input_ids"].shape == (0, 0)
    assert mlm.embed([]).shape == (0, mlm.config.hidden_size)
    assert models["cls"].classify([]) == []
    assert models["ner"].tag([]) == []
    assert mlm.fill_mask([]) == []
    with pytest.raises(ValueError, match="no token of texts was masked"):
        mlm.mlm_loss([])


def test_only_special_tokens(models):
    mlm, tok = models["mlm"], models["mlm"].tokenizer
    # Typed special tokens are the special tokens themselves, as in HF tokenizers (then the template adds its own).
    assert tok.encode("[CLS] [SEP]") == [tok.cls_token_id, tok.cls_token_id, tok.sep_token_id, tok.sep_token_id]
    assert mlm.embed("[CLS] [SEP]").shape == (1, mlm.config.hidden_size)
    assert set(models["cls"].classify("[CLS] [SEP]")) == {"label", "score", "scores"}
    with pytest.raises(ValueError, match="text 0 has no mask token"):
        mlm.fill_mask("[CLS] [SEP]")
    with pytest.raises(ValueError, match="no token of texts was masked"):
        mlm.mlm_loss(["[CLS] [SEP]"])
    only_mask = mlm.fill_mask("[MASK]", top_k=3)
    assert len(only_mask) == 3 and all(p["sequence"] == p["token_str"] for p in only_mask)


def test_only_special_tokens_byte_level_bpe(tmp_path_factory):
    folder = tmp_path_factory.mktemp("roberta-mlm")
    build_with_tokenizer("roberta", "ForMaskedLM", folder)
    model = fastenc.load(folder)
    tok = model.tokenizer
    assert tok.encode("<s></s>") == [tok.bos_token_id, tok.bos_token_id, tok.eos_token_id, tok.eos_token_id]
    assert model.encode("<s></s>").tolist() == tok.encode("<s></s>")
    assert model.embed("<s></s>").shape == (1, model.config.hidden_size)
    with pytest.raises(ValueError, match="text 0 has no mask token"):
        model.fill_mask("<s></s>")
    with pytest.raises(ValueError, match="no token of texts was masked"):
        model.mlm_loss(["<s></s>"])
    only_mask = model.fill_mask("<mask>", top_k=2)
    assert len(only_mask) == 2 and all(p["sequence"] == p["token_str"] for p in only_mask)


def test_a_million_characters(models):
    mlm, tok = models["mlm"], models["mlm"].tokenizer
    assert len(tok.encode(LONG_TEXT)) == 200_002
    ids = tok(LONG_TEXT, truncation=True, max_length=16)["input_ids"]
    assert len(ids) == 16 and ids[-1] == tok.sep_token_id
    assert mlm.embed(LONG_TEXT).shape == (1, mlm.config.hidden_size)  # truncated to the model's maximum
    assert set(models["cls"].classify(LONG_TEXT)) == {"label", "score", "scores"}
    assert isinstance(models["ner"].tag(LONG_TEXT), list)
    with pytest.raises(ValueError, match="text 0 has 200003 tokens but the model takes at most"):
        mlm.fill_mask(LONG_TEXT + "[MASK]")
    with pytest.raises(ValueError, match="tokens exceeds maximum length: 200002"):
        mlm.extract_features(mlm.encode(LONG_TEXT))
    with pytest.raises(ValueError, match="tokens exceeds maximum length: 200002"):
        models["cls"].predict("sentence_classification_head", models["cls"].encode(LONG_TEXT))
    assert mlm.mlm_loss([LONG_TEXT])["masked_tokens"] > 0  # truncated to the model's maximum


def test_a_hundred_thousand_texts_on_the_tokenizer(models):
    tok = models["mlm"].tokenizer
    out = tok(["a short text"] * 100_000, padding=True, return_tensors="np")
    assert out["input_ids"].shape == (100_000, 5)


# ---------------------------------------------------------------------------------------------------------------
# Token ids: forward, the fairseq calls, decode

IDS_CALLS = {
    "forward": (lambda m, x: m["mlm"](x), "input_ids"),
    "extract_features": (lambda m, x: m["mlm"].extract_features(x), "tokens"),
    "predict": (lambda m, x: m["cls"].predict("sentence_classification_head", x), "tokens"),
    "decode": (lambda m, x: m["mlm"].decode(x), "tokens"),
}
BAD_IDS = {
    "None": (None, TypeError, "must be a torch.Tensor"),
    "str": ("101 102", TypeError, "must be a torch.Tensor"),
    "bytes": (b"ab", TypeError, "must be a torch.Tensor"),
    "float ids": (torch.tensor([101.0, 102.0]), TypeError, "must hold integers, got dtype torch.float32"),
    "NaN ids": (torch.tensor([float("nan")]), TypeError, "must hold integers"),
    "bool ids": (torch.tensor([True]), TypeError, "must hold integers"),
    "mixed list": ([101, "a"], ValueError, "must be a rectangular batch of integers"),
    "ragged rows": ([[101, 102], [101]], ValueError, "must be a rectangular batch of integers"),
    "beyond int64": ([2**70], ValueError, "must be a rectangular batch of integers"),
    "3-D": (torch.ones(1, 1, 3, dtype=torch.long), ValueError, r"must have shape \(batch, seq_len\)"),
}


@pytest.mark.parametrize("case", BAD_IDS)
@pytest.mark.parametrize("call", IDS_CALLS)
def test_bad_ids(models, call, case):
    fn, name = IDS_CALLS[call]
    value, error, message = BAD_IDS[case]
    with pytest.raises(error, match=f"^{name} {message}"):
        fn(models, value)


@pytest.mark.parametrize("call", ["forward", "extract_features", "predict"])
@pytest.mark.parametrize("ids", [[101, -1, 102], [101, 30522, 102], [101, 10**12, 102]], ids=["-1", "V", "1e12"])
def test_ids_outside_the_vocabulary(models, call, ids):
    fn, _ = IDS_CALLS[call]
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, 30522\), found values in"):
        fn(models, torch.tensor(ids))


@pytest.mark.parametrize("call", ["forward", "extract_features", "predict"])
@pytest.mark.parametrize("empty", [[], torch.zeros(0, dtype=torch.long), torch.zeros(2, 0, dtype=torch.long)])
def test_empty_ids(models, call, empty):
    fn, name = IDS_CALLS[call]
    with pytest.raises(ValueError, match=f"^{name} is empty"):
        fn(models, empty)


def test_tokenizer_decode(models):
    tok = models["mlm"].tokenizer
    assert tok.decode([]) == "" and models["mlm"].decode([]) == ""
    # Ids past the vocabulary are dropped, as the tokenizers library drops them.
    assert tok.decode([7592, 10**6]) == tok.decode([7592])
    with pytest.raises(ValueError, match=r"^token_ids\[1\] is -1: token ids are never negative"):
        tok.decode([7592, -1])
    with pytest.raises(ValueError, match=r"^token_ids\[0\] is -1"):
        models["mlm"].decode(torch.tensor([-1, 7592]))  # the fairseq decode goes through it
    cases = {None: "token_ids must be an int", "abc": "token_ids must be an int", b"ab": "token_ids must be an int",
             (1.0,): r"token_ids\[0\] must be an int, not float", (float("nan"),): r"token_ids\[0\] must be an int",
             ((1, 2),): r"token_ids\[0\] must be an int, not tuple", (1, None): r"token_ids\[1\] must be an int"}
    for value, message in cases.items():
        with pytest.raises(TypeError, match="^" + message):
            tok.decode(list(value) if isinstance(value, tuple) else value)
    with pytest.raises(TypeError, match=r"^token_ids\[0\] must be an int"):
        tok.decode(torch.tensor([1.5]))


# ---------------------------------------------------------------------------------------------------------------
# attention_mask and token_type_ids of a forward call

IDS = torch.tensor([[101, 7592, 102]])
BAD_MASKS = {
    "NaN": (torch.tensor([[1.0, float("nan"), 1.0]]), ValueError, r"must hold only 0 \(padding\) and 1 \(token\)"),
    "inf": (torch.tensor([[1.0, float("inf"), 1.0]]), ValueError, "must hold only 0"),
    "0.5": (torch.tensor([[1.0, 0.5, 1.0]]), ValueError, "must hold only 0"),
    "2": (torch.tensor([[1, 2, 1]]), ValueError, "must hold only 0"),
    "-1": (torch.tensor([[1, -1, 1]]), ValueError, "must hold only 0"),
    "all zero": (torch.tensor([[0, 0, 0]]), ValueError, r"marks no token in row\(s\) \[0\]"),
    "short": (torch.tensor([[1, 1]]), ValueError, r"has shape \(1, 2\), input_ids \(1, 3\)"),
    "complex": (torch.ones(1, 3, dtype=torch.complex64), TypeError, "must hold integers"),
    "str": ("111", TypeError, "must be a torch.Tensor"),
}


@pytest.mark.parametrize("case", BAD_MASKS)
def test_bad_attention_masks(models, case):
    mask, error, message = BAD_MASKS[case]
    with pytest.raises(error, match="^attention_mask " + message):
        models["mlm"](IDS, attention_mask=mask)


def test_float_and_bool_masks_of_zeros_and_ones_are_read_as_int_masks(models):
    mlm = models["mlm"]
    ids = torch.tensor([[101, 7592, 102], [101, 102, 0]])
    expected = mlm(ids, attention_mask=torch.tensor([[1, 1, 1], [1, 1, 0]])).last_hidden_state
    for mask in (torch.tensor([[1.0, 1, 1], [1, 1, 0]]), torch.tensor([[True, True, True], [True, True, False]])):
        assert torch.equal(mlm(ids, attention_mask=mask).last_hidden_state, expected)


BAD_TYPES = {
    "3": (torch.tensor([[0, 3, 0]]), ValueError, r"must lie in \[0, 2\), found \[0, 3\]"),
    "-1": (torch.tensor([[0, -1, 0]]), ValueError, r"must lie in \[0, 2\), found \[-1, 0\]"),
    "float": (torch.tensor([[0.0, 1.0, 0.0]]), TypeError, "must hold integers"),
    "short": (torch.tensor([[0, 1]]), ValueError, r"has shape \(1, 2\)"),
}


@pytest.mark.parametrize("case", BAD_TYPES)
def test_bad_token_type_ids(models, case):
    types, error, message = BAD_TYPES[case]
    with pytest.raises(error, match="^token_type_ids " + message):
        models["mlm"](IDS, token_type_ids=types)


def test_too_long_input(models):
    with pytest.raises(ValueError, match="^input_ids has 65 positions but this model takes at most 64"):
        models["mlm"](torch.full((1, 65), 7592))


# ---------------------------------------------------------------------------------------------------------------
# Options of the batch calls and the tokenizer

OPTION_CASES = {
    "embed batch_size=0": (lambda m: m["mlm"].embed(["a"], batch_size=0), "batch_size must be a positive int"),
    "embed batch_size=2.5": (lambda m: m["mlm"].embed(["a"], batch_size=2.5), "batch_size must be a positive int"),
    "classify max_batch_tokens=nan": (lambda m: m["cls"].classify(["a"], max_batch_tokens=float("nan")),
                                      "max_batch_tokens must be a positive int"),
    "embed pooling": (lambda m: m["mlm"].embed(["a"], pooling="sum"), "pooling must be one of"),
    "fill_mask top_k=0": (lambda m: m["mlm"].fill_mask("[MASK]", top_k=0), "top_k must be a positive int"),
    "mlm_loss mlm_probability=nan": (lambda m: m["mlm"].mlm_loss(["a b"], mlm_probability=float("nan")),
                                     "mlm_probability must be a number in"),
    "mlm_loss mlm_probability='x'": (lambda m: m["mlm"].mlm_loss(["a b"], mlm_probability="x"),
                                     "mlm_probability must be a number in"),
    "mlm_loss batch_size='x'": (lambda m: m["mlm"].mlm_loss(["a b"], batch_size="x"), "batch_size must be a positive"),
    "tokenizer max_length=-1": (lambda m: m["mlm"].tokenizer("a", truncation=True, max_length=-1),
                                "max_length must be a non-negative int"),
    "tokenizer max_length='x'": (lambda m: m["mlm"].tokenizer("a", truncation=True, max_length="x"),
                                 "max_length must be a non-negative int"),
    "classify pairs": (lambda m: m["cls"].classify(["a", "b"], text_pairs=["c"]),
                       "texts has 2 items but text_pairs has 1"),
}


@pytest.mark.parametrize("case", OPTION_CASES)
def test_bad_options(models, case):
    fn, message = OPTION_CASES[case]
    with pytest.raises(ValueError, match="^" + message):
        fn(models)


def test_numpy_ids_and_small_int_dtypes_are_accepted(models):
    mlm = models["mlm"]
    expected = mlm(IDS).last_hidden_state
    assert torch.equal(mlm(IDS.numpy().astype(np.int32)).last_hidden_state, expected)
    assert torch.equal(mlm(IDS.to(torch.int16)).last_hidden_state, expected)


# ---------------------------------------------------------------------------------------------------------------
# The command line: one line `fastenc: error: ...`, exit 1 (bad input) or 2 (bad usage)

def fastenc_cli(*argv, stdin=None):
    return subprocess.run([sys.executable, "-m", "fastenc", *map(str, argv)], capture_output=True, text=True,
                          input=stdin, timeout=120)


def cli_cases(folders, tmp_path):
    mlm = folders / "mlm"
    not_utf8 = tmp_path / "latin1.txt"
    not_utf8.write_bytes("caf\xe9\n".encode("latin-1"))
    long_line = tmp_path / "long.txt"
    long_line.write_text(LONG_TEXT + "\n\n")
    return [  # (argv, exit code, message); the first four also run in a subprocess
        (["fill-mask", mlm, ""], 1, "text 0 has no mask token"),
        (["fill-mask", mlm, "a [MASK]", "--top-k", "x"], 2, "argument --top-k: invalid int value"),
        (["embed", mlm, "--input", not_utf8, "--output", tmp_path / "x.npy"], 1, "--input .* is not UTF-8 text"),
        (["info", tmp_path / "nowhere"], 1, "no model folder at"),
        (["fill-mask", mlm, "a [MASK]", "--top-k", "0"], 1, "top_k must be a positive int"),
        (["classify", folders / "cls", "a", "b", "--pair", "c"], 1, "2 texts but 1 --pair texts"),
        (["embed", mlm, "--input", long_line, "--output", tmp_path / "x.npy", "--batch-size", "0"], 1,
         "batch_size must be a positive int"),
    ]


def check_cli_error(argv, code, message, returncode, stderr):
    assert returncode == code, (argv, stderr)
    last = stderr.strip().splitlines()[-1]
    assert re.match(r"fastenc( [\w-]+)?: error: ", last), (argv, stderr)  # argparse names the command
    assert "Traceback" not in stderr
    assert re.search(message, last), (argv, last)


def test_cli_bad_input_in_a_subprocess(folders, tmp_path):
    for argv, code, message in cli_cases(folders, tmp_path)[:4]:  # a few: each subprocess imports torch
        result = fastenc_cli(*argv)
        check_cli_error(argv, code, message, result.returncode, result.stderr)


def test_cli_bad_input(folders, tmp_path, capsys):
    from fastenc.cli import main

    for argv, code, message in cli_cases(folders, tmp_path):
        try:
            returncode = main([str(a) for a in argv])
        except SystemExit as e:  # argparse's usage errors
            returncode = e.code
        check_cli_error(argv, code, message, returncode, capsys.readouterr().err)


def test_cli_long_line_and_empty_lines_embed(folders, tmp_path):
    source = tmp_path / "long.txt"
    source.write_text(LONG_TEXT + "\n\n")  # a 10**6-character line, then an empty one
    result = fastenc_cli("embed", folders / "mlm", "--input", source, "--output", tmp_path / "out.npy")
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "out.npy").shape == (2, 32)


# ---------------------------------------------------------------------------------------------------------------
# fastenc.load and Tokenizer.from_pretrained arguments

LOAD_CASES = {
    "None": (dict(name_or_path=None), TypeError, "name_or_path must be a str"),
    "int": (dict(name_or_path=5), TypeError, "name_or_path must be a str"),
    "bytes": (dict(name_or_path=b"models/bert"), TypeError, "name_or_path must be a str"),
    "list": (dict(name_or_path=["bert"]), TypeError, "name_or_path must be a str"),
    "empty": (dict(name_or_path=""), ValueError, "name_or_path is empty"),
    "10**5 characters": (dict(name_or_path="x" * 100_000), fastenc.ModelNotFoundError, "no model folder at"),
    "special tokens": (dict(name_or_path="[CLS] [SEP]"), fastenc.ModelNotFoundError, "not a valid Hub id"),
    "device": (dict(device="gpu0"), ValueError, "device must be 'cpu', 'cuda', 'cuda:N'"),
    "dtype": (dict(dtype="int8"), ValueError, "dtype must be one of"),
    "backend": (dict(backend=["torch"]), ValueError, "backend must be one of"),
    "task": (dict(task=5), fastenc.ConfigError, "unknown task 5"),
}


@pytest.mark.parametrize("case", LOAD_CASES)
def test_load_arguments(folders, case, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    kwargs, error, message = LOAD_CASES[case]
    kwargs = {"name_or_path": folders / "mlm", **kwargs}
    with pytest.raises(error, match=message):
        fastenc.load(**kwargs)
    if case in ("None", "int", "bytes", "empty"):
        with pytest.raises(error, match=message):
            fastenc.Tokenizer.from_pretrained(kwargs["name_or_path"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_load_on_cuda_without_a_gpu(folders):
    with pytest.raises(ValueError, match="device 'cuda' asked for, but this machine has no usable CUDA GPU"):
        fastenc.load(folders / "mlm", device="cuda")

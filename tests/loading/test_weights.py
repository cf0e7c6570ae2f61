"""Reading tensors: safetensors first, weights-only pickles, and clear errors for corrupt or incomplete files."""
import json

import pytest
import torch

from fastenc import WeightsError
from fastenc.loading.weights import read_tensors
from tiny_checkpoints import build, save


def test_no_weights_in_folder(tmp_path):
    with pytest.raises(WeightsError, match="no weights in .*looked for model.safetensors"):
        read_tensors(tmp_path)


def test_corrupt_safetensors(tmp_path):
    folder = save(build("bert"), tmp_path / "ckpt")
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[: 2000])  # truncated download
    with pytest.raises(WeightsError, match="cannot read safetensors file .*model.safetensors"):
        read_tensors(folder)


def test_garbage_safetensors(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        read_tensors(tmp_path)


def test_missing_shard(tmp_path):
    folder = save(build("bert"), tmp_path / "ckpt", layout="sharded")
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    victim = sorted(set(index["weight_map"].values()))[-1]
    (folder / victim).unlink()
    with pytest.raises(WeightsError, match=f"shard '{victim}' listed in .* is missing"):
        read_tensors(folder)


def test_safetensors_preferred_over_bin(tmp_path):
    folder = save(build("bert"), tmp_path / "ckpt")
    torch.save({"bogus": torch.zeros(1)}, folder / "pytorch_model.bin")
    assert "bogus" not in read_tensors(folder)


class _Payload:  # an arbitrary object: a weights-only load must refuse to unpickle it
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_pickle_with_code_is_refused(tmp_path):
    torch.save({"weight": torch.zeros(2), "evil": _Payload()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(WeightsError, match="weights-only"):
        read_tensors(tmp_path)


def test_legacy_bin_is_read(tmp_path):
    folder = save(build("bert", "ForMaskedLM"), tmp_path / "ckpt", layout="legacy_bin")
    tensors = read_tensors(folder)
    assert "bert.embeddings.LayerNorm.gamma" in tensors


def test_pre_zip_pickle_format_is_read(tmp_path):
    """Checkpoints saved by PyTorch before 1.6 are not zip files and cannot be memory-mapped."""
    torch.save({"w": torch.arange(3.0)}, tmp_path / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    assert torch.equal(read_tensors(tmp_path)["w"], torch.arange(3.0))

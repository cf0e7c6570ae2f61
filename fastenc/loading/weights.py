"""Read a checkpoint folder's tensors: safetensors (single or sharded) first, pickled `.bin` only as weights."""
import logging
import zipfile
from pathlib import Path

import torch

log = logging.getLogger(__name__)


class WeightsError(ValueError):
    """A checkpoint whose tensors we cannot read or do not match the model: the message names the key and shapes."""


def read_tensors(folder) -> dict[str, torch.Tensor]:
    """All tensors of the checkpoint in `folder`, on the CPU, under the names the file uses."""
    folder = Path(folder)
    for index_name, reader in (
        ("model.safetensors.index.json", _read_safetensors),
        ("pytorch_model.bin.index.json", _read_torch_bin),
    ):
        index = folder / index_name
        if index.is_file():
            return _read_sharded(index, reader)
    if (folder / "model.safetensors").is_file():
        return _read_safetensors(folder / "model.safetensors")
    if (folder / "pytorch_model.bin").is_file():
        return _read_torch_bin(folder / "pytorch_model.bin")
    raise WeightsError(
        f"no weights in {str(folder)!r}: looked for model.safetensors, model.safetensors.index.json, "
        "pytorch_model.bin and pytorch_model.bin.index.json"
    )


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise WeightsError(f"cannot read safetensors file {str(path)!r} (corrupt or truncated?): {e}") from e


def _read_torch_bin(path: Path) -> dict[str, torch.Tensor]:
    # weights_only: a pickle may hold arbitrary code; we accept tensors and plain containers, nothing else.
    try:
        # mmap only works for the zip format; checkpoints saved by PyTorch before 1.6 are read whole.
        state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as e:  # torch raises several types for bad pickles and refused globals
        raise WeightsError(f"cannot read {str(path)!r} as a weights-only PyTorch checkpoint: {e}") from e
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{str(path)!r} is not a state dict of tensors")
    return state


def _read_sharded(index: Path, reader) -> dict[str, torch.Tensor]:
    from ..hub import read_json_file

    weight_map = read_json_file(index, WeightsError).get("weight_map")
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise WeightsError(f"shard index {str(index)!r} needs a \"weight_map\" object of tensor name -> file name")
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        path = _shard_path(index, shard)
        if not path.is_file():
            raise WeightsError(f"shard {shard!r} listed in {str(index)!r} is missing")
        tensors.update(reader(path))
    listed, found = set(weight_map), set(tensors)
    if listed - found:
        missing = sorted(listed - found)[:5]
        raise WeightsError(f"{str(index)!r} lists tensors that no shard holds: {missing}")
    log.debug("read %d tensors from %d shards of %s", len(tensors), len(set(weight_map.values())), index.parent)
    return tensors


def _shard_path(index: Path, shard: str) -> Path:
    """The shard's path, refused unless it stays inside the model folder: an index must not make us read files
    elsewhere (`../x`, absolute paths, symlinks out). A Hub-cache snapshot's files are symlinks into the repository's
    blobs/ folder, so there the repository's cache folder is the boundary."""
    folder = index.parent.resolve()
    boundary = folder.parent.parent if folder.parent.name == "snapshots" else folder
    path = index.parent / shard
    if Path(shard).is_absolute() or ".." in Path(shard).parts or not path.resolve().is_relative_to(boundary):
        raise WeightsError(f"shard {shard!r} listed in {str(index)!r} lies outside the model folder {str(folder)!r}: "
                           "refusing to read it")
    return path

"""transformers' outputs on tiny checkpoints, computed where transformers has the family and carried to machines
whose transformers lacks it: the GPU image's 5.17 has no GteConfig, so its fp32 parity test of GTE reads these.

`benchmarks/gpu_data.py` writes one folder per family into .gpu-data/references/<family>-<head>/: the checkpoint
(`build(family, head)`, seed 0, saved as Hub repositories hold it) and reference.safetensors with the parity batch,
transformers' float64 outputs on the CPU (the oracle) and its float32 outputs on the CPU (its own error). A test then
holds fastenc's outputs to the suite's one rule (parity.py) against them, as it would against a live run.
"""
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from model_compare import reference_outputs
from tiny_checkpoints import build, padded_batch, save

FOLDER = Path(__file__).resolve().parents[2] / ".gpu-data" / "references"
# What the GPU parity test compares, per family: the encoder's last layer and the MLM head's logits.
HEAD = "ForMaskedLM"


@dataclass
class StoredReference:
    folder: Path  # the checkpoint fastenc loads
    input_ids: torch.Tensor  # (B, T) int64
    attention_mask: torch.Tensor  # (B, T) int64
    oracle: dict  # output name -> transformers in float64 on the CPU
    theirs: dict  # output name -> transformers in float32 on the CPU
    transformers: str  # the version that computed them


def parity_batch(vocab_size: int, max_length: int, pad_token_id) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) of the GPU parity test: the longest input, a short one, a middle one, a single
    token, padded with the family's pad id."""
    return padded_batch(vocab_size, [max_length, 3, max_length // 2, 1], pad_token_id)


def transformers_outputs(model, input_ids, attention_mask) -> dict:
    """The outputs the GPU parity test compares, by name."""
    out = reference_outputs(model, input_ids, attention_mask)
    found = {"last_hidden_state": out.hidden_states[-1]}
    if getattr(out, "logits", None) is not None:
        found["logits"] = out.logits
    return found


def write(family: str, root: Path = FOLDER) -> Path:
    """Build, save and run the family's tiny checkpoint here; returns its folder under `root`."""
    import transformers

    import fastenc

    hf = build(family, HEAD)
    folder = save(hf, Path(root) / f"{family}-{HEAD}")
    ids, mask = parity_batch(hf.config.vocab_size, fastenc.load(folder).max_length, hf.config.pad_token_id)
    tensors = {"input_ids": ids, "attention_mask": mask}
    for kind, dtype in (("theirs", torch.float32), ("oracle", torch.float64)):  # .to() converts hf in place
        for name, value in transformers_outputs(hf.to(dtype), ids, mask).items():
            tensors[f"{kind}.{name}"] = value.contiguous()
    save_file(tensors, folder / "reference.safetensors",
              metadata={"transformers": transformers.__version__, "family": family})
    return folder


def load(family: str, root: Path | None = None) -> StoredReference:
    """The stored reference of `family`, or a skip that says how to make one."""
    root = Path(root or os.environ.get("FASTENC_STORED_REFERENCES") or FOLDER)
    folder = root / f"{family}-{HEAD}"
    path = folder / "reference.safetensors"
    if not path.is_file():
        pytest.skip(f"no stored transformers reference for {family} at {folder}: run benchmarks/gpu_data.py where "
                    f"transformers has the family, and carry .gpu-data")
    tensors = load_file(path)
    with safe_open(path, "pt") as f:
        version = (f.metadata() or {}).get("transformers", "?")

    def outputs(kind: str) -> dict:
        return {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(kind + ".")}

    return StoredReference(folder, tensors["input_ids"], tensors["attention_mask"], outputs("oracle"),
                           outputs("theirs"), version)

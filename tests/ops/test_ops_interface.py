"""The ops interface and the head registry: one typed table of operations per backend, one table of heads."""
import dataclasses

import pytest
import torch

import fastenc
from fastenc.models import registry
from fastenc.ops import reference
from fastenc.ops.interface import BACKENDS, Ops, ops_for
from fastenc.outputs import EncoderOutput
from tiny_checkpoints import ALL, build, save


def test_backends_bind_one_typed_table_each():
    ops = ops_for("torch")
    assert isinstance(ops, Ops) and ops.name == "torch" and ops.attention is reference.attention
    assert set(BACKENDS) == {"torch", "triton"}
    with pytest.raises(ValueError, match="backend must be one of"):
        ops_for("cuda")


def test_triton_ops_validate_once_with_a_clear_error():
    ops = ops_for("triton")
    ids = torch.zeros(3, dtype=torch.long)
    weight = torch.zeros(10, 8)
    with pytest.raises(ValueError, match="head_dim 256"):
        ops.validate(ids, weight, 256)
    with pytest.raises(TypeError, match="input_ids has dtype torch.float32"):
        ops.validate(ids.float(), weight, 16)
    ops.validate(ids, weight, 16)  # a valid call raises nothing


def test_every_head_fills_real_output_fields():
    names = {f.name for f in dataclasses.fields(EncoderOutput)}
    for spec in registry.HEADS:
        assert set(spec.fields) <= names and all(set(f) <= names for f in spec.task_fields.values()), spec.name


@pytest.mark.parametrize("family,head", ALL)
def test_model_builds_the_heads_the_registry_names(tmp_path, family, head):
    model = fastenc.load(save(build(family, head), tmp_path / "ckpt")).model
    built = {spec.name for spec in registry.HEADS if getattr(model, spec.name) is not None}
    assert built == {spec.name for spec in model.head_specs}
    if head == "ForTokenClassification":
        assert model.token_fields == {"logits"} and registry.has_labels(model.config)

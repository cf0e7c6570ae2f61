"""GTE against transformers under the parity rule: awkward shapes (head dims 16/32/48, odd layer counts, no / one / two
token types, gated MLPs with GELU, tanh GELU and SiLU), every head, RoPE scaling on and off (linear, dynamic, the
original code's fixed and mixed NTK) at lengths beyond max_position_embeddings where the scaling stretches them, logn
attention scaling with and without clip1, the original code's config and checkpoint layouts, both backends (the
Triton kernels under the interpreter on the CPU), and the config errors."""
import json
import math

import pytest
import torch
from safetensors.torch import load_file, save_file

import fastenc
from fastenc.config import ConfigError
from model_compare import compare, compare_on_device, triton_device_or_skip
from parity import assert_parity, float64_twin
from tiny_checkpoints import build, padded_batch, rewrite_config, save

# name -> config overrides of tiny_checkpoints' gte defaults (hidden 48, 3 heads, 3 layers, 2 types, max 40, theta 500)
SHAPES = {
    "hd16-types2": {},
    "hd32-5layers-no-types": dict(hidden_size=64, num_attention_heads=2, num_hidden_layers=5, type_vocab_size=0,
                                  rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
    "hd48-1layer-one-type-silu": dict(hidden_size=96, num_attention_heads=2, num_hidden_layers=1, type_vocab_size=1,
                                      hidden_act="silu", intermediate_size=50),
    "hd16-tanh-gelu": dict(hidden_act="gelu_pytorch_tanh", intermediate_size=20, layer_norm_eps=1e-5),
}
LENGTHS = [1, 5, 40, 17, 2]  # 40 is max_position_embeddings
HEADS = ["ForMaskedLM", "ForSequenceClassification", "ForTokenClassification"]


@pytest.mark.parity
@pytest.mark.parametrize("shape,head", [(shape, head) for i, shape in enumerate(SHAPES)
                                        for head in (HEADS[i % 3], HEADS[(i + 1) % 3])])
def test_shapes_match_transformers(tmp_path, shape, head):
    hf_model = build("gte", head, **SHAPES[shape])
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, LENGTHS, model.config.pad_token_id, seed=2)
    type_ids = None
    if model.config.type_vocab_size > 1:
        type_ids = (torch.arange(ids.shape[1]) >= 3).long().expand_as(ids) * mask
    compare(model, hf_model, ids, mask, type_ids)


@pytest.mark.parity
@pytest.mark.parametrize("rope,lengths", [
    ({"rope_type": "linear", "rope_theta": 300.0, "factor": 2.0}, [80, 41, 1, 63]),  # max_length 80
    ({"rope_type": "linear", "rope_theta": 900.0, "factor": 1.5}, [60, 7]),  # max_length 60
    ({"rope_type": "dynamic", "rope_theta": 200.0, "factor": 4.0}, [40, 13, 1]),  # as default up to 40
], ids=["linear2", "linear1.5", "dynamic"])
def test_rope_scaling_matches_transformers(tmp_path, rope, lengths):
    hf_model = build("gte", "ForTokenClassification", rope_parameters=rope)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    assert model.config.gte.rope_type == rope["rope_type"] and model.max_length == max(lengths)
    ids, mask = padded_batch(model.config.vocab_size, lengths, model.config.pad_token_id, seed=3)
    compare(model, hf_model, ids, mask)
    with pytest.raises(ValueError, match="at most"):
        model(torch.full((1, model.max_length + 1), 7))


def original_layout(folder, rope_scaling, rope_theta, pack_qkv=True, **options):
    """Rewrite a transformers-saved GTE folder as the original remote code (model_type "new") lays it out: the
    NewConfig keys, `new.` for the base model, and (pack_qkv false) Q, K and V as three tensors."""
    raw = json.loads((folder / "config.json").read_text())
    del raw["rope_parameters"]
    raw.update(model_type="new", architectures=[raw["architectures"][0].replace("Gte", "New")],
               rope_theta=rope_theta, rope_scaling=rope_scaling, layer_norm_type="layer_norm", pack_qkv=pack_qkv,
               unpad_inputs=False, use_memory_efficient_attention=False, position_embedding_type="rope",
               logn_attention_scale=False, logn_attention_clip1=False, **options)
    (folder / "config.json").write_text(json.dumps(raw))
    tensors = {}
    for name, t in load_file(folder / "model.safetensors").items():
        name = "new." + name[len("gte."):] if name.startswith("gte.") else name
        if not pack_qkv and name.endswith(("qkv_proj.weight", "qkv_proj.bias")):
            for part, chunk in zip("qkv", t.chunk(3, dim=0)):
                tensors[name.replace("qkv_proj", f"{part}_proj")] = chunk.clone()
        else:
            tensors[name] = t
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


@pytest.mark.parity
@pytest.mark.parametrize("pack_qkv", [True, False])
def test_original_layout_with_fixed_ntk(tmp_path, pack_qkv):
    """gte-*-en-v1.5's original config: rope_scaling {"type": "ntk", "factor": 2} over rope_theta, which
    transformers' converted configs express as linear scaling of base * factor by factor^(2 / head_dim)."""
    head_dim, base, factor = 16, 250.0, 2.0
    hf_model = build("gte", "ForMaskedLM", rope_parameters={"rope_type": "linear", "rope_theta": base * factor,
                                                            "factor": factor ** (2 / head_dim)})
    folder = original_layout(save(hf_model, tmp_path / "ckpt"), {"type": "ntk", "factor": factor}, base, pack_qkv)
    model = fastenc.load(folder)
    assert (model.config.model_type, model.config.task, model.max_length) == ("new", "masked_lm", 80)
    ids, mask = padded_batch(model.config.vocab_size, [80, 3, 52], model.config.pad_token_id, seed=4)
    compare(model, hf_model, ids, mask)


@pytest.mark.parity
def test_mixed_ntk(tmp_path):
    """rope_scaling {"type": "ntk", "mixed_b": b}: frequency i divided by exp(a * i^b), a = log(factor) / (hd/2)^b,
    as the original code computes it (transformers has no such rope_type: its model runs with those frequencies)."""
    hf_model = build("gte", "ForSequenceClassification", rope_parameters={"rope_type": "default", "rope_theta": 400.0})
    d, factor, b = 16, 3.0, 0.8
    inv_freq = 1.0 / (400.0 ** (torch.arange(0, d, 2).float() / d))
    a = math.log(factor) / (d / 2) ** b
    inv_freq = inv_freq / torch.exp(a * torch.arange(1, d // 2 + 1).float() ** b)
    hf_model.gte.rotary_emb.inv_freq.copy_(inv_freq)
    folder = original_layout(save(hf_model, tmp_path / "ckpt"), {"type": "ntk", "factor": factor, "mixed_b": b}, 400.0)
    model = fastenc.load(folder)
    ids, mask = padded_batch(model.config.vocab_size, [120, 9, 41], model.config.pad_token_id, seed=5)
    compare(model, hf_model, ids, mask)


def logn_reference(hf_model, ids, mask, max_positions, clip1):
    """(per sequence: transformers' outputs, its float64 twin's) with the original code's logn scale: the query of
    an n-token sequence times log(n) / log(max_positions), at least 1 with clip1 (run one sequence at a time, where
    the scale is one number folded into each attention's `scaling`)."""
    results = []
    for row in range(ids.shape[0]):
        n = int(mask[row].sum())
        scale = math.log(n) / math.log(max_positions)
        scale = max(scale, 1.0) if clip1 else scale
        runs = []
        for m in (hf_model, float64_twin(hf_model)):
            for layer in m.gte.layers:
                layer.self_attn.scaling = layer.self_attn.head_dim ** -0.5 * scale
            with torch.no_grad():
                runs.append(m(ids[row:row + 1, :n], output_hidden_states=True))
            for layer in m.gte.layers:
                layer.self_attn.scaling = layer.self_attn.head_dim ** -0.5
        results.append(runs)
    return results


def assert_logn_parity(label, model, hf_model, ids, mask, clip1):
    out = model(ids, attention_mask=mask, output_hidden_states=True)
    for row, (ref, exact) in enumerate(logn_reference(hf_model, ids, mask, model.config.max_position_embeddings,
                                                      clip1)):
        n = int(mask[row].sum())
        for i, (h, r, e) in enumerate(zip(out.hidden_states, ref.hidden_states, exact.hidden_states)):
            assert_parity(label, f"row {row} hidden_states[{i}]", h[row, :n], r[0], e[0])
        sequence_head = model.config.task == "sequence_classification"
        ours = out.logits[row] if sequence_head else out.logits[row, :n]
        assert_parity(label, f"row {row} logits", ours, ref.logits[0], exact.logits[0])


@pytest.mark.parity
@pytest.mark.parametrize("head,clip1", [("ForMaskedLM", False), ("ForSequenceClassification", True)])
def test_logn_attention_scale(tmp_path, head, clip1):
    """Lengths on both sides of max_position_embeddings (40; NTK factor 2 takes 80): below it the scale is < 1 (0 for
    one token) unless clipped, beyond it > 1. Packed and padded paths."""
    hf_model = build("gte", head, rope_parameters={"rope_type": "linear", "rope_theta": 500.0, "factor": 2.0})
    folder = save(hf_model, tmp_path / "ckpt")
    rewrite_config(folder, logn_attention_scale=True, logn_attention_clip1=clip1)
    model = fastenc.load(folder)
    assert model.config.gte.logn_attention_scale and model.config.gte.logn_clip1 == clip1
    ids, mask = padded_batch(model.config.vocab_size, [80, 1, 33, 57, 40], model.config.pad_token_id, seed=6)
    assert_logn_parity("gte", model, hf_model, ids, mask, clip1)
    model.padding_free = False
    assert_logn_parity("gte", model, hf_model, ids, mask, clip1)


@pytest.mark.parity
def test_left_padding_keeps_padded_positions(tmp_path):
    """transformers numbers RoPE positions along the padded row: left padding and holes run on the padded path."""
    hf_model = build("gte", "ForTokenClassification")
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [14, 14, 14], model.config.pad_token_id, seed=7)
    mask[0, :3] = 0
    mask[1, 5:7] = 0
    assert not model.model.packable(mask) and model.model.packable(torch.ones(2, 3))
    compare(model, hf_model, ids, mask)


def test_bad_configs_name_the_field(tmp_path):
    folder = save(build("gte", "Model"), tmp_path / "ckpt")
    cases = [
        (dict(rope_parameters={"rope_type": "yarn", "rope_theta": 1e4, "factor": 2.0}), "rope_type 'yarn'"),
        (dict(rope_parameters={"rope_type": "llama3", "rope_theta": 1e4, "factor": 2.0}), "rope_type 'llama3'"),
        (dict(rope_parameters={"rope_type": "banana"}), "unknown rope_parameters rope_type 'banana'"),
        (dict(rope_parameters={"rope_type": "linear", "rope_theta": 1e4}), "factor must be a number"),
        (dict(rope_parameters={"rope_type": "linear", "rope_theta": 1e4, "factor": 0.5}), "factor must be"),
        (dict(rope_parameters={"rope_type": "default", "rope_theta": -1.0}), "rope_theta must be"),
        (dict(rope_parameters={"rope_type": "default", "partial_rotary_factor": 0.5}), "partial_rotary_factor"),
        (dict(rope_parameters=None, rope_scaling={"type": "ntk", "factor": 2.0, "mixed_b": -1}), "mixed_b"),
        (dict(rope_scaling=None, layer_norm_type="rms_norm"), "layer_norm_type 'rms_norm'"),
        (dict(layer_norm_type="layer_norm", position_embedding_type="absolute"), "position_embedding_type"),
        (dict(position_embedding_type="rope", logn_attention_scale="yes"), "logn_attention_scale must be true"),
        (dict(logn_attention_scale=False, pack_qkv=1), "pack_qkv must be true or false"),
        (dict(pack_qkv=False, num_attention_heads=16), "even head dimension"),
        (dict(num_attention_heads=3, head_dim=8), "head_dim 8"),
        (dict(head_dim=None, architectures=["GteForMultipleChoice"]), "unsupported architecture 'GteForMultiple"),
        (dict(architectures=["GteForQuestionAnswering"]), "'question_answering' needs a head GTE does not have"),
    ]
    for changes, message in cases:
        rewrite_config(folder, **changes)
        with pytest.raises(ConfigError, match=message):
            fastenc.load(folder)
    rewrite_config(folder, architectures=["GteModel"])
    with pytest.raises(ConfigError, match="needs a head GTE does not have"):
        fastenc.load(folder, task="question_answering")


@pytest.mark.parity
@pytest.mark.parametrize("head,padding_free", [("ForMaskedLM", True), ("ForSequenceClassification", False)],
                         ids=["packed", "padded"])
def test_triton_backend_matches_transformers(tmp_path, head, padding_free):
    """RoPE-QKV, GeGLU, LayerNorm with residual and the embeddings kernels end to end, with linear RoPE scaling
    beyond max_position_embeddings (the interpreter is slow on padded batches: that one, shorter)."""
    device = triton_device_or_skip()
    hf_model = build("gte", head, rope_parameters={"rope_type": "linear", "rope_theta": 300.0, "factor": 2.0})
    fused = fastenc.load(save(hf_model, tmp_path / "ckpt"), device=device, dtype=torch.float32, backend="triton")
    fused.padding_free = padding_free
    lengths = [1, 61, 40, 7] if padding_free else [1, 13, 6]
    ids, mask = padded_batch(fused.config.vocab_size, lengths, fused.config.pad_token_id, seed=8)
    compare_on_device("gte-triton", fused, hf_model, ids, mask, device)


@pytest.mark.parity
def test_triton_backend_logn(tmp_path):
    device = triton_device_or_skip()
    hf_model = build("gte", "ForTokenClassification", rope_parameters={"rope_type": "linear", "rope_theta": 500.0,
                                                                       "factor": 2.0})
    folder = save(hf_model, tmp_path / "ckpt")
    rewrite_config(folder, logn_attention_scale=True, logn_attention_clip1=True)
    fused = fastenc.load(folder, device=device, dtype=torch.float32, backend="triton")
    ids, mask = padded_batch(fused.config.vocab_size, [70, 3, 44], fused.config.pad_token_id, seed=9)
    assert_logn_parity("gte-triton", fused, hf_model.to(device), ids, mask, clip1=True)

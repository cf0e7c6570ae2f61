"""ModernBERT against transformers under the parity rule: awkward shapes (head dims 16/32/48, windows that do and do
not divide the length, global_attn_every_n_layers 1/2/3, odd layer counts, biases on and off), every head, both
config.json spellings, both backends (the Triton kernels under the interpreter on the CPU)."""
import os

import pytest
import torch

import fastenc
from fastenc.config import ConfigError
from model_compare import compare, compare_on_device, low_precision_cosine, triton_device_or_skip
from parity import assert_parity, float64_twin
from tiny_checkpoints import build, padded_batch, rewrite_config, save

# name -> config overrides of tiny_checkpoints' modernbert defaults (hidden 48, 3 heads, 3 layers, window 4, max 40)
SHAPES = {
    "hd16-window4-every2": {},
    "hd32-window3-every3-biases": dict(hidden_size=64, num_attention_heads=2, local_attention=7,
                                       global_attn_every_n_layers=3, num_hidden_layers=5, norm_bias=True,
                                       attention_bias=True, mlp_bias=True, classifier_bias=True),
    "hd48-window8-every1": dict(hidden_size=96, num_attention_heads=2, local_attention=16,
                                global_attn_every_n_layers=1, num_hidden_layers=1),
    "hd16-window0-all-local": dict(local_attention=1, global_attn_every_n_layers=50, intermediate_size=20),
    "tanh-gelu-wide-window": dict(hidden_activation="gelu_pytorch_tanh", local_attention=64,
                                  classifier_activation="silu", global_rope_theta=1000.0, local_rope_theta=77.0),
}
LENGTHS = [1, 5, 9, 40, 17]  # 40 is max_position_embeddings; 9 and 17 are not multiples of the window


@pytest.mark.parity
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("head", ["ForMaskedLM", "ForTokenClassification"])
def test_shapes_match_transformers(tmp_path, shape, head):
    hf_model = build("modernbert", head, **SHAPES[shape])
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, LENGTHS, model.config.pad_token_id, seed=2)
    compare(model, hf_model, ids, mask)


@pytest.mark.parity
@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_sequence_classification_pooling(tmp_path, pooling):
    hf_model = build("modernbert", "ForSequenceClassification", classifier_pooling=pooling, local_attention=6)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    assert model.config.modernbert.classifier_pooling == pooling
    ids, mask = padded_batch(model.config.vocab_size, [12, 3, 1, 30], model.config.pad_token_id, seed=4)
    compare(model, hf_model, ids, mask)
    model.padding_free = False  # the padded path pools with the mask
    compare(model, hf_model, ids, mask)


@pytest.mark.parity
def test_left_padding_and_holes_keep_padded_positions(tmp_path):
    """transformers numbers RoPE positions and the window along the padded row: masks that are not a prefix of
    each row run on the padded path, which counts as it does."""
    hf_model = build("modernbert", "ForQuestionAnswering")
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [14, 14, 14], model.config.pad_token_id, seed=5)
    mask[0, :3] = 0  # left padding
    mask[1, 5:7] = 0  # a hole wider than nothing, inside the window of its neighbours
    assert not model.model.packable(mask) and model.model.packable(torch.ones(2, 3))
    compare(model, hf_model, ids, mask)


@pytest.mark.parity
def test_untied_decoder_without_bias_and_the_old_config_spelling(tmp_path):
    """Hub checkpoints written by transformers 4 say global_attn_every_n_layers / global_rope_theta /
    local_rope_theta instead of layer_types / rope_parameters."""
    hf_model = build("modernbert", "ForMaskedLM", tie_word_embeddings=False, decoder_bias=False, num_hidden_layers=4,
                     global_attn_every_n_layers=3, local_attention=10)
    folder = save(hf_model, tmp_path / "ckpt")
    import json

    raw = json.loads((folder / "config.json").read_text())
    del raw["layer_types"], raw["rope_parameters"]
    raw.update(global_rope_theta=160000.0, local_rope_theta=10000.0, global_attn_every_n_layers=3)
    (folder / "config.json").write_text(json.dumps(raw))
    model = fastenc.load(folder)
    assert model.config.modernbert.sliding_layers == (False, True, True, False)
    assert model.mlm.bias is None and model.mlm.decoder.data_ptr() != model.embeddings.word.weight.data_ptr()
    ids, mask = padded_batch(model.config.vocab_size, [11, 4], model.config.pad_token_id)
    compare(model, hf_model, ids, mask)


@pytest.mark.parity
def test_packed_output_and_bare_encoder_from_a_head_checkpoint(tmp_path):
    hf_model = build("modernbert", "ForMaskedLM")
    folder = save(hf_model, tmp_path / "ckpt")
    bare = fastenc.load(folder, task="base")  # the head's tensors are skipped
    assert bare.mlm is None
    ids, mask = padded_batch(bare.config.vocab_size, [6, 13, 2], bare.config.pad_token_id)
    packed = bare(ids, attention_mask=mask, packed_output=True)
    padded = bare(ids, attention_mask=mask)
    assert packed.last_hidden_state.shape == (int(mask.sum()), bare.config.hidden_size)
    assert torch.equal(packed.last_hidden_state, padded.last_hidden_state[mask.bool()])
    with torch.no_grad():
        ref = hf_model.model(ids, attention_mask=mask)
        oracle = float64_twin(hf_model).model(ids, attention_mask=mask)
    assert_parity("modernbert", "bare last_hidden_state", padded.last_hidden_state, ref.last_hidden_state,
                  oracle.last_hidden_state, mask)


def test_unsupported_options_are_refused(tmp_path):
    folder = save(build("modernbert", "Model"), tmp_path / "ckpt")
    rewrite_config(folder, rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0,
                                                               "rope_theta": 1e4}})
    with pytest.raises(ConfigError, match="RoPE scaling"):
        fastenc.load(folder)
    rewrite_config(folder, rope_parameters=None, classifier_pooling="max")
    with pytest.raises(ConfigError, match="classifier_pooling must be one of"):
        fastenc.load(folder)
    rewrite_config(folder, classifier_pooling="cls", layer_types=["full_attention"])
    with pytest.raises(ConfigError, match="layer_types must list one of"):
        fastenc.load(folder)
    rewrite_config(folder, layer_types=None, architectures=["ModernBertForMultipleChoice"])
    with pytest.raises(ConfigError, match="unsupported architecture 'ModernBertForMultipleChoice'"):
        fastenc.load(folder)
    rewrite_config(folder, architectures=["ModernBertModel"])
    with pytest.raises(ConfigError, match="ModernBERT does not have"):
        fastenc.load(folder, task="pretraining")
    rewrite_config(folder, norm_bias="no")
    with pytest.raises(ConfigError, match="norm_bias must be true or false"):
        fastenc.load(folder)


@pytest.mark.parity
@pytest.mark.parametrize("shape,head,padding_free", [
    ("hd16-window4-every2", "ForMaskedLM", True), ("hd32-window3-every3-biases", "ForSequenceClassification", True),
    ("tanh-gelu-wide-window", "ForTokenClassification", True), ("hd16-window4-every2", "ForQuestionAnswering", False),
], ids=lambda v: {True: "packed", False: "padded"}.get(v, v) if isinstance(v, bool) else v)
def test_triton_backend_matches_transformers(tmp_path, shape, head, padding_free):
    """The fused kernels (sliding-window attention, RoPE-QKV, GeGLU, LayerNorm) end to end, packed and padded (the
    interpreter is slow on padded batches: one of them, shorter)."""
    device = triton_device_or_skip()
    overrides = dict(SHAPES[shape], classifier_pooling="mean") if "Sequence" in head else SHAPES[shape]
    hf_model = build("modernbert", head, **overrides)
    fused = fastenc.load(save(hf_model, tmp_path / "ckpt"), device=device, dtype=torch.float32, backend="triton")
    fused.padding_free = padding_free
    lengths = [1, 19, 40, 7] if padding_free else [1, 13, 6]
    ids, mask = padded_batch(fused.config.vocab_size, lengths, fused.config.pad_token_id, seed=6)
    compare_on_device("modernbert-triton", fused, hf_model, ids, mask, device)


def test_loads_by_hub_id_through_the_cache_and_fills_masks(tmp_path):
    """`fastenc.load("answerdotai/ModernBERT-base")` offline, from a Hub-layout cache holding a tiny checkpoint with
    a ModernBERT-layout tokenizer: fill_mask gives the pipeline's tokens and strings."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import transformers

    from hub_cache import fake_cache
    from real_vocab_checkpoints import build_with_tokenizer

    hf_model, hf_tok = build_with_tokenizer("modernbert", "ForMaskedLM", tmp_path / "ckpt")
    fake_cache(tmp_path / "cache", "answerdotai/ModernBERT-base", tmp_path / "ckpt")
    text = "The capital of France is [MASK]."
    code = ("import fastenc, json; m = fastenc.load('answerdotai/ModernBERT-base');"
            f"print(json.dumps([m.tokenizer.is_native, m.fill_mask({text!r}, top_k=3)]))")
    helpers = str(Path(__file__).resolve().parents[1] / "helpers")
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": helpers}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    native, ours = json.loads(run.stdout.strip().splitlines()[-1])
    assert native
    theirs = transformers.pipeline("fill-mask", model=hf_model, tokenizer=hf_tok)(text, top_k=3)
    assert [(p["token"], p["token_str"], p["sequence"]) for p in ours] == \
        [(p["token"], p["token_str"], p["sequence"]) for p in theirs]  # scores: tests/tasks/test_fill_mask.py


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_close_to_fp32(tmp_path, dtype):
    cosine = low_precision_cosine(save(build("modernbert", "ForMaskedLM"), tmp_path / "ckpt"), dtype, [6, 19, 40])
    assert cosine > 0.99, cosine  # the bound tests/models/test_model.py holds BERT to

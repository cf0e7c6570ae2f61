"""NomicBERT against transformers under the parity rule: awkward shapes (head dims 16/32/48, 1 to 5 layers, RoPE bases
and linear scaling, SwiGLU / GeGLU / a non-gated activation), every head, lengths 1 to the maximum, padded batches
with left padding and holes, the Hub's remote-code layout and config spelling, both backends (the Triton kernels under
the interpreter on the CPU), and the config options transformers does not run refused by name."""
import json

import pytest
import torch

import fastenc
from fastenc.config import ConfigError
from model_compare import compare, compare_on_device, low_precision_cosine, triton_device_or_skip
from tiny_checkpoints import build, padded_batch, rewrite_config, save

# name -> config overrides of tiny_checkpoints' nomic_bert defaults (hidden 48, 3 heads, 3 layers, base 500, max 36)
SHAPES = {
    "hd16-swiglu": {},
    "hd32-5layers-tanh-geglu-linear-rope": dict(
        hidden_size=64, num_attention_heads=2, num_hidden_layers=5, intermediate_size=50,
        hidden_act="gelu_pytorch_tanh", rope_parameters={"rope_type": "linear", "factor": 3.0, "rope_theta": 10000.0}),
    "hd48-1layer-dynamic-rope": dict(
        hidden_size=96, num_attention_heads=2, num_hidden_layers=1, intermediate_size=20,
        rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 1000.0}),
    "hd16-relu-not-gated-kernel": dict(hidden_act="relu", type_vocab_size=1, layer_norm_eps=1e-5),
    # transformers' head_dim set apart from hidden_size / heads: 5 heads of 16 (q/k/v 80 wide) on hidden 48
    "hd16x5-on-hidden48": dict(num_attention_heads=5, head_dim=16, num_hidden_layers=2),
}
LENGTHS = [1, 5, 9, 36, 17]  # 36 is max_position_embeddings


def _type_ids(mask):
    """Two segments in every row (the second from position 4), padding at type 0."""
    return (torch.arange(mask.shape[1]) >= 4).long().expand_as(mask) * mask


@pytest.mark.parity
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("head", ["ForMaskedLM", "ForTokenClassification"])
def test_shapes_match_transformers(tmp_path, shape, head):
    hf_model = build("nomic_bert", head, **SHAPES[shape])
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, LENGTHS, model.config.pad_token_id, seed=2)
    types = _type_ids(mask) if model.config.type_vocab_size > 1 else None
    compare(model, hf_model, ids, mask, types)


@pytest.mark.parity
def test_sequence_classifier_with_pooler_pairs_left_padding_and_holes(tmp_path):
    """The pooler (tanh dense on the first token) feeds the classifier; left padding runs the padded path (the
    pooler reads column 0, as transformers does), a hole runs packed with its padded-row RoPE positions."""
    hf_model = build("nomic_bert", "ForSequenceClassification")
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    assert model.pooler is not None
    ids, mask = padded_batch(model.config.vocab_size, [12, 3, 1, 30], model.config.pad_token_id, seed=4)
    compare(model, hf_model, ids, mask, _type_ids(mask))
    ids, mask = padded_batch(model.config.vocab_size, [14, 14, 14], model.config.pad_token_id, seed=5)
    mask[1, 5:7] = 0  # a hole
    assert model.model.packable(mask)
    compare(model, hf_model, ids, mask)
    mask[0, :3] = 0  # left padding
    assert not model.model.packable(mask)
    compare(model, hf_model, ids, mask)


def _to_hub_layout(folder, hf_model, architecture="NomicBertModel"):
    """Rewrite a transformers NomicBERT checkpoint as nomic-ai's Hub repositories hold it (contrastors' remote code):
    fused Wqkv, fc11 (up) / fc12 (gate) / fc2, norm1 / norm2, emb_ln, and the config's own names, the inverse of
    transformers' conversion mapping for nomic_bert. A masked LM (nomic-bert-2048's NomicBertForPreTraining) keeps
    its encoder under `bert.` and has no head biases (the model's must be zero)."""
    from safetensors.torch import save_file

    mlm = architecture == "NomicBertForPreTraining"
    state = {k.removeprefix("nomic_bert."): v for k, v in hf_model.state_dict().items()}
    if mlm:
        assert not state.pop("cls.predictions.transform.dense.bias").any()
        assert not state.pop("cls.predictions.bias").any()
        for name in [n for n in state if n.startswith("cls.predictions.decoder.")]:
            del state[name]  # tied to the word embeddings
    hub = {}
    for name, tensor in state.items():
        if ".self_attn.k_proj." in name or ".self_attn.v_proj." in name:
            continue
        if ".self_attn.q_proj." in name:
            parts = [state[name.replace("q_proj", p)] for p in ("q_proj", "k_proj", "v_proj")]
            name, tensor = name.replace("self_attn.q_proj", "attn.Wqkv"), torch.cat(parts)
        for ours, theirs in (("layers.", "encoder.layers."), ("embeddings.LayerNorm.", "emb_ln."),
                             ("self_attn.o_proj", "attn.out_proj"), ("mlp.up_proj", "mlp.fc11"),
                             ("mlp.gate_proj", "mlp.fc12"), ("mlp.down_proj", "mlp.fc2"),
                             ("post_attention_layernorm", "norm1"), ("post_mlp_layernorm", "norm2")):
            name = name.replace(ours, theirs, 1) if name.startswith(ours) or f".{ours}" in name else name
        hub[("bert." if mlm and not name.startswith("cls.") else "") + name] = tensor.contiguous()
    (folder / "model.safetensors").unlink()
    save_file(hub, folder / "model.safetensors")
    c = hf_model.config
    raw = {"model_type": "nomic_bert", "architectures": [architecture], "vocab_size": c.vocab_size,
           "n_embd": c.hidden_size, "n_layer": c.num_hidden_layers, "n_head": c.num_attention_heads,
           "n_inner": c.intermediate_size, "n_positions": c.max_position_embeddings,
           "type_vocab_size": c.type_vocab_size, "layer_norm_epsilon": c.layer_norm_eps, "activation_function": "swiglu",
           "rotary_emb_base": c.rope_parameters["rope_theta"], "rotary_emb_fraction": 1.0,
           "rotary_emb_interleaved": False, "rotary_scaling_factor": None, "qkv_proj_bias": False,
           "mlp_fc1_bias": False, "mlp_fc2_bias": False, "prenorm": False, "causal": False, "use_rms_norm": False,
           "pad_vocab_size_multiple": 1, "auto_map": {"AutoModel": "nomic-ai/nomic-bert-2048--modeling_hf_nomic_bert."
                                                                   "NomicBertModel"}}
    (folder / "config.json").write_text(json.dumps(raw))


@pytest.mark.parity
def test_hub_layout_and_config_spelling(tmp_path):
    """nomic-embed-text-v1.5's layout: the Hub's names and config spelling load into the same model."""
    hf_model = build("nomic_bert", "Model", intermediate_size=40)
    folder = save(hf_model, tmp_path / "ckpt")
    _to_hub_layout(folder, hf_model)
    model = fastenc.load(folder)
    assert (model.config.hidden_size, model.config.intermediate_size, model.config.nomic_bert.rope_theta) == \
        (48, 40, 500.0)
    ids, mask = padded_batch(model.config.vocab_size, [7, 20, 2], model.config.pad_token_id, seed=7)
    compare(model, hf_model, ids, mask)


@pytest.mark.parity
def test_nomic_embed_text_layout_end_to_end(tmp_path):
    """nomic-embed-text-v1.5 as its repository holds it (Hub layout and config, a bert-base-uncased tokenizer.json,
    sentence-transformers files: mean pooling, normalised): `embed` with no arguments, task prefixes in the text,
    equals transformers' hidden states mean-pooled and normalised, under the parity rule."""
    from parity import assert_parity, float64_twin
    from real_vocab_checkpoints import build_with_tokenizer, reference_embedding, write_sentence_transformers_files

    hf_model, hf_tok = build_with_tokenizer("nomic_bert", "Model", tmp_path / "ckpt")
    _to_hub_layout(tmp_path / "ckpt", hf_model)
    write_sentence_transformers_files(tmp_path / "ckpt")
    model = fastenc.load(tmp_path / "ckpt")
    assert model.tokenizer.is_native
    texts = ["search_query: What is TSNE?", "search_document: TSNE is a dimensionality reduction technique.",
             "clustering: x", "classification: " + "a long text " * 12]
    ours = model.embed(texts)

    def pooled(hf):
        means = torch.stack([reference_embedding(hf, hf_tok, t, "mean") for t in texts])
        return torch.nn.functional.normalize(means, dim=-1)

    assert_parity("nomic_bert", "embed (sentence-transformers mean, normalised)", ours, pooled(hf_model),
                  pooled(float64_twin(hf_model)))


@pytest.mark.parity
def test_hub_pretraining_checkpoint_is_its_masked_lm(tmp_path):
    """nomic-bert-2048's layout: NomicBertForPreTraining, the encoder under `bert.`, a head without biases (zero in
    transformers, which builds them): it loads as the masked LM and fills masks as transformers' ForMaskedLM."""
    hf_model = build("nomic_bert", "ForMaskedLM")
    with torch.no_grad():
        hf_model.cls.predictions.transform.dense.bias.zero_()
        hf_model.cls.predictions.bias.zero_()
    folder = save(hf_model, tmp_path / "ckpt")
    _to_hub_layout(folder, hf_model, "NomicBertForPreTraining")
    model = fastenc.load(folder)
    assert model.config.task == "masked_lm" and model.mlm is not None
    ids, mask = padded_batch(model.config.vocab_size, [9, 3, 30], model.config.pad_token_id, seed=8)
    compare(model, hf_model, ids, mask)


def test_tensors_the_model_does_not_run_are_refused(tmp_path):
    """A projection bias transformers' nomic_bert never has (a checkpoint of another model) is an error, not
    silently dropped."""
    from safetensors.torch import load_file, save_file

    from fastenc.loading.weights import WeightsError

    folder = save(build("nomic_bert", "Model"), tmp_path / "ckpt")
    state = load_file(folder / "model.safetensors")
    state["layers.1.self_attn.q_proj.bias"] = torch.zeros(48)
    save_file(state, folder / "model.safetensors")
    with pytest.raises(WeightsError, match="unexpected tensor 'layers.1.self_attn.q_proj.bias'"):
        fastenc.load(folder)


@pytest.mark.parametrize("changes,message", [
    (dict(num_experts=8, moe_every_n_layers=2), "num_experts is 8: mixture-of-experts"),
    (dict(rotary_emb_fraction=0.5), "rotary_emb_fraction is 0.5"),
    (dict(rotary_emb_interleaved=True), "rotary_emb_interleaved is True"),
    (dict(prenorm=True), "prenorm is True"),
    (dict(qkv_proj_bias=True), "qkv_proj_bias is True"),
    (dict(rotary_scaling_factor=2.0), "rotary_scaling_factor is 2.0"),
    (dict(num_heads_kv=1), "num_heads_kv 1 differs"),
    (dict(rope_parameters={"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e4}), "rope_type 'yarn'"),
    (dict(rope_parameters={"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5}),
     "partial_rotary_factor 0.5"),
    (dict(rope_parameters={"rope_type": "linear", "rope_theta": 1e4}), "factor must be a number"),
    (dict(rope_parameters={"rope_type": "dynamic", "rope_theta": 1e4}), "factor must be a number"),  # as transformers
    (dict(rope_parameters={"rope_type": "linear", "rope_theta": 1e4, "factor": 0.5}), "factor must be a finite num"),
    (dict(rope_parameters={"rope_type": "default", "rope_theta": -1.0}), "must be a positive number"),
    (dict(rope_parameters=None, rotary_emb_base=0), "the RoPE base rotary_emb_base must be a positive number"),
    (dict(head_dim=7), "RoPE needs an even, positive head dimension, got head_dim 7"),
    (dict(head_dim="16"), "head_dim must be an integer"),
    (dict(hidden_act="swiglu"), "hidden_act 'swiglu' is not supported"),
    (dict(type_vocab_size=0), "type_vocab_size must be at least 1"),
    (dict(architectures=["NomicBertForQuestionAnswering"]), "is not a NomicBERT head"),
])
def test_unsupported_options_are_refused(tmp_path, changes, message):
    folder = save(build("nomic_bert", "Model"), tmp_path / "ckpt")
    rewrite_config(folder, **changes)
    with pytest.raises(ConfigError, match=message):
        fastenc.load(folder)


def test_hub_activation_names(tmp_path):
    """`activation_function` (the Hub's) is read where `hidden_act` is absent: swiglu is SiLU; a non-gated MLP is
    refused."""
    from fastenc.config import EncoderConfig

    raw = {"model_type": "nomic_bert", "activation_function": "geglu", "n_embd": 32, "n_head": 2}
    config = EncoderConfig.from_dict(raw)
    assert (config.hidden_act, config.hidden_size, config.head_dim) == ("gelu", 32, 16)
    with pytest.raises(ConfigError, match="activation_function 'gelu' is not a gated MLP"):
        EncoderConfig.from_dict({**raw, "activation_function": "gelu"})


@pytest.mark.parity
@pytest.mark.parametrize("shape,head,padding_free", [
    ("hd16-swiglu", "ForMaskedLM", True), ("hd32-5layers-tanh-geglu-linear-rope", "ForSequenceClassification", True),
    ("hd48-1layer-dynamic-rope", "ForTokenClassification", False), ("hd16x5-on-hidden48", "ForMaskedLM", True),
], ids=lambda v: {True: "packed", False: "padded"}.get(v, v) if isinstance(v, bool) else v)
def test_triton_backend_matches_transformers(tmp_path, shape, head, padding_free):
    """The fused kernels (RoPE-QKV, attention, SwiGLU/GeGLU, embeddings, LayerNorm) end to end, packed and padded
    (two layers at most: the interpreter is slow, and a third layer runs the same kernels again)."""
    device = triton_device_or_skip()
    hf_model = build("nomic_bert", head, **{**SHAPES[shape], "num_hidden_layers": 1 if "1layer" in shape else 2})
    fused = fastenc.load(save(hf_model, tmp_path / "ckpt"), device=device, dtype=torch.float32, backend="triton")
    fused.padding_free = padding_free
    lengths = [1, 19, 36, 7] if padding_free else [1, 13, 6]
    ids, mask = padded_batch(fused.config.vocab_size, lengths, fused.config.pad_token_id, seed=6)
    compare_on_device("nomic_bert-triton", fused, hf_model, ids, mask, device)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_close_to_fp32(tmp_path, dtype):
    cosine = low_precision_cosine(save(build("nomic_bert", "ForMaskedLM"), tmp_path / "ckpt"), dtype, [6, 19, 36])
    assert cosine > 0.99, cosine  # the bound tests/models/test_model.py holds BERT to


def test_fill_mask_with_nomics_padded_vocabulary(tmp_path):
    """Nomic's checkpoints have 30528 embedding rows for the 30522 tokens of bert-base-uncased (padded to a multiple
    of 64): predictions of a padding row come out as the pipeline gives them (an empty token_str)."""
    import transformers

    from real_vocab_checkpoints import SHAPES, write_tokenizer

    tokenizer = write_tokenizer("nomic_bert", tmp_path)
    hf_model = build("nomic_bert", "ForMaskedLM", **{**SHAPES["nomic_bert"], "vocab_size": 30528})
    with torch.no_grad():  # padding rows 30522 and 30525 lead, well apart; then a real token
        hf_model.cls.predictions.bias[[30522, 30525, 2003]] = torch.tensor([60.0, 40.0, 20.0])
    save(hf_model, tmp_path)
    model = fastenc.load(tmp_path)
    text = "search_query: paris is the [MASK] of france."
    ours = model.fill_mask(text, top_k=3)
    theirs = transformers.pipeline("fill-mask", model=hf_model, tokenizer=tokenizer)(text, top_k=3)
    assert [p["token"] for p in ours][:2] == [30522, 30525]
    assert [(p["token"], p["token_str"], p["sequence"]) for p in ours] == \
        [(p["token"], p["token_str"], p["sequence"]) for p in theirs]

"""On CUDA: the compiled kernels really run compiled; fp32 parity with transformers by the tolerance rule; bf16 and
fp16 against fp32 (per-token cosine) on the real MiniLM and on roberta-large-shaped random weights."""
import copy

import pytest
import torch
import transformers

import fastenc
import stored_references
from gpu_helpers import DRY, corpus_sentences, mixed_lengths, token_cosines
from parity import assert_parity
from tiny_checkpoints import IMPLEMENTATIONS, build, has_family, padded_batch, save

COSINE = 0.999
LOW = [torch.bfloat16, torch.float16]


def test_kernels_run_compiled(device, tmp_path):
    if device != "cuda":
        pytest.skip("the dry run interprets the kernels on purpose")
    from fastenc.kernels import _utils

    assert not _utils.INTERPRET, "TRITON_INTERPRET=1 is set on a CUDA machine: the kernels would be interpreted"
    model = fastenc.load(save(build("bert"), tmp_path / "ckpt"), device="cuda")
    assert model.backend == "triton" and model.dtype == torch.bfloat16


def _hf_outputs(model, ids, mask, device) -> dict:
    return stored_references.transformers_outputs(model, ids.to(device), mask.to(device))


def _fastenc_outputs(model, ids, mask) -> dict:
    out = model(ids, attention_mask=mask)
    found = {"last_hidden_state": out.last_hidden_state}
    if out.logits is not None:
        found["logits"] = out.logits
    return found


def assert_tolerance_rule(hf_fp32, folder, ids, mask, device):
    """The suite's one fp32 rule (tests/helpers/parity.py): fastenc fp32 on the device against transformers fp32 on the
    same device, both measured from a float64 run of the same model on the CPU."""
    oracle = _hf_outputs(copy.deepcopy(hf_fp32).double(), ids, mask, "cpu")
    theirs = _hf_outputs(copy.deepcopy(hf_fp32).to(device), ids, mask, device)
    model = fastenc.load(folder, device=device, dtype=torch.float32, backend="triton")
    ours = _fastenc_outputs(model, ids, mask)
    for name in oracle:
        assert_parity(f"{hf_fp32.config.model_type}-{device}", name, ours[name], theirs[name], oracle[name], mask)


# Shapes beyond the tiny ones: head_dim 64 and sequences across several attention blocks.
MEDIUM = dict(hidden_size=128, num_attention_heads=2, intermediate_size=256, max_position_embeddings=300)


@pytest.mark.parametrize("family", IMPLEMENTATIONS)
def test_fp32_parity_with_transformers(tmp_path, device, family):
    if not has_family(family):  # this transformers lacks it: transformers' outputs computed where it has it
        stored = stored_references.load(family)
        model = fastenc.load(stored.folder, device=device, dtype=torch.float32, backend="triton")
        ours = _fastenc_outputs(model, stored.input_ids, stored.attention_mask)
        for name in stored.oracle:
            assert_parity(f"{family}-{device} (transformers {stored.transformers}, stored)", name, ours[name],
                          stored.theirs[name], stored.oracle[name], stored.attention_mask)
        return
    hf = build(family, stored_references.HEAD)
    folder = save(hf, tmp_path / "ckpt")
    ids, mask = stored_references.parity_batch(hf.config.vocab_size, fastenc.load(folder).max_length,
                                               hf.config.pad_token_id)
    assert_tolerance_rule(hf, folder, ids, mask, device)


def test_fp32_parity_head_dim_64_long_sequences(tmp_path, device):
    hf = build("bert", "ForMaskedLM", **MEDIUM)
    ids, mask = padded_batch(hf.config.vocab_size, [70, 33, 1] if DRY else [297, 130, 64, 1, 200], 0)
    assert_tolerance_rule(hf, save(hf, tmp_path / "ckpt"), ids, mask, device)


@pytest.mark.parametrize("family,overrides", [
    ("modernbert", dict(local_attention=128, num_hidden_layers=4)),  # global and local layers, a 64-token half window
    ("nomic_bert", dict(num_hidden_layers=3, rope_parameters={"rope_type": "default", "rope_theta": 1000.0})),
], ids=["modernbert-sliding-window", "nomic_bert-swiglu"])
def test_rope_families_across_blocks(tmp_path, device, family, overrides):
    """head_dim 64, RoPE on long sequences spanning several key blocks (ModernBERT: global and local layers, a window
    over several blocks; NomicBERT: SwiGLU); then bf16/fp16 against fp32 on transformers' own initialisation."""
    hf = build(family, "ForMaskedLM", **MEDIUM, **overrides)
    lengths = [70, 33, 1] if DRY else [297, 130, 64, 1, 200]
    ids, mask = padded_batch(hf.config.vocab_size, lengths, hf.config.pad_token_id)
    assert_tolerance_rule(hf, save(hf, tmp_path / "ckpt"), ids, mask, device)
    # Low precision on transformers' own initialisation (build()'s widened weights amplify bf16 rounding).
    torch.manual_seed(0)
    folder = save(transformers.AutoModelForMaskedLM.from_config(hf.config).eval(), tmp_path / "init")
    want = fastenc.load(folder, device=device, dtype=torch.float32)(ids, attention_mask=mask).last_hidden_state
    for dtype in LOW:
        got = fastenc.load(folder, device=device, dtype=dtype)(ids, attention_mask=mask).last_hidden_state
        cos = token_cosines(got, want, mask)
        assert cos.min().item() >= COSINE, (dtype, cos.min().item())


@pytest.fixture(scope="module")
def large(tmp_path_factory, large_shape, device):
    """roberta-large-shaped random weights (transformers' own initialisation) and the folder fastenc loads."""
    torch.manual_seed(0)
    config = transformers.RobertaConfig(**large_shape, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    hf = transformers.AutoModel.from_config(config).eval()
    folder = tmp_path_factory.mktemp("roberta-large")
    hf.save_pretrained(folder)
    return hf, folder


@pytest.mark.parametrize("dtype", LOW, ids=["bf16", "fp16"])
def test_low_precision_roberta_large_shape(large, device, dtype):
    hf, folder = large
    lengths = mixed_lengths(4, 4, 64) if DRY else mixed_lengths(8, 16, 512)
    ids, mask = padded_batch(hf.config.vocab_size, lengths, 1)
    reference = copy.deepcopy(hf).to(device)
    with torch.no_grad():
        want = reference(ids.to(device), attention_mask=mask.to(device)).last_hidden_state
    del reference
    model = fastenc.load(folder, device=device, dtype=dtype)
    cos = token_cosines(model(ids, attention_mask=mask).last_hidden_state, want, mask)
    assert cos.min().item() >= COSINE, cos.min().item()


@pytest.mark.parametrize("dtype", LOW, ids=["bf16", "fp16"])
def test_low_precision_deberta_v3_layout(tmp_path, device, dtype):
    """DeBERTa-v3's layout (256 buckets, shared keys, relative terms only) at head_dim 64, transformers' own
    initialisation, lengths across several key blocks: the disentangled kernel in bf16 / fp16."""
    torch.manual_seed(0)
    config = transformers.DebertaV2Config(
        vocab_size=1000, num_hidden_layers=2, type_vocab_size=0, relative_attention=True, position_buckets=256,
        pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False,
        **MEDIUM)
    hf = transformers.DebertaV2Model(config).eval()
    folder = save(hf, tmp_path / "ckpt")
    ids, mask = padded_batch(config.vocab_size, mixed_lengths(4, 4, 64) if DRY else mixed_lengths(8, 16, 300), 0)
    with torch.no_grad():
        want = copy.deepcopy(hf).to(device)(ids.to(device), attention_mask=mask.to(device)).last_hidden_state
    model = fastenc.load(folder, device=device, dtype=dtype)
    cos = token_cosines(model(ids, attention_mask=mask).last_hidden_state, want, mask)
    assert cos.min().item() >= COSINE, cos.min().item()


@pytest.mark.parametrize("dtype", LOW, ids=["bf16", "fp16"])
def test_low_precision_mpnet_relative_bias(tmp_path, device, dtype):
    """MPNet at head_dim 64, transformers' own initialisation, lengths past max_distance 128 across several key
    blocks: the attention kernel's relative-bias mode in bf16 / fp16, fp32 parity first."""
    torch.manual_seed(0)
    config = transformers.MPNetConfig(vocab_size=1000, num_hidden_layers=2, **MEDIUM)
    hf = transformers.MPNetModel(config).eval()
    with torch.no_grad():  # a bias that moves the weights (the init's 0.02 std barely does)
        hf.encoder.relative_attention_bias.weight.normal_(0.0, 1.0)
    folder = save(hf, tmp_path / "ckpt")
    ids, mask = padded_batch(config.vocab_size, mixed_lengths(4, 4, 64) if DRY else [298] + mixed_lengths(7, 16, 298), 1)
    assert_tolerance_rule(hf, folder, ids, mask, device)
    with torch.no_grad():
        want = copy.deepcopy(hf).to(device)(ids.to(device), attention_mask=mask.to(device)).last_hidden_state
    model = fastenc.load(folder, device=device, dtype=dtype)
    cos = token_cosines(model(ids, attention_mask=mask).last_hidden_state, want, mask)
    assert cos.min().item() >= COSINE, cos.min().item()


@pytest.fixture(scope="module")
def minilm_batch(minilm, device):
    tokenizer = fastenc.Tokenizer.from_pretrained(minilm)
    # The dry run interprets every kernel program on the CPU (about 10 ms each): three short sentences, 16 tokens.
    sentences = corpus_sentences(1)[:3] if DRY else corpus_sentences(20)
    batch = tokenizer(sentences, padding=True, truncation=True, max_length=16 if DRY else 256, return_tensors="pt")
    hf = transformers.AutoModel.from_pretrained(minilm, dtype=torch.float32).eval()
    return hf, batch["input_ids"], batch["attention_mask"]


def test_minilm_fp32_parity_with_transformers(minilm, minilm_batch, device):
    hf, ids, mask = minilm_batch
    assert_tolerance_rule(hf, minilm, ids, mask, device)


@pytest.mark.parametrize("dtype", LOW, ids=["bf16", "fp16"])
def test_minilm_low_precision(minilm, minilm_batch, device, dtype):
    hf, ids, mask = minilm_batch
    with torch.no_grad():
        want = copy.deepcopy(hf).to(device)(ids.to(device), attention_mask=mask.to(device)).last_hidden_state
    model = fastenc.load(minilm, device=device, dtype=dtype)
    cos = token_cosines(model(ids, attention_mask=mask).last_hidden_state, want, mask)
    assert cos.min().item() >= COSINE, cos.min().item()

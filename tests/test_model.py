"""fp32 parity with transformers for every family and head, on tiny random checkpoints with padded batches."""
import pytest
import torch

import fastenc
from parity_log import record
from tiny_checkpoints import ALL, FAMILY_CONFIGS, build, padded_batch, save

ATOL = 1e-5


def max_error_on_tokens(ours: torch.Tensor, theirs: torch.Tensor, mask: torch.Tensor) -> float:
    """Largest |ours - theirs| over real tokens (padded positions are free to differ)."""
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    keep = mask.bool()
    return (ours[keep] - theirs[keep]).abs().max().item()


def reference_outputs(hf_model, ids, mask, type_ids=None):
    kwargs = {"attention_mask": mask, "output_hidden_states": True}
    if type_ids is not None:
        kwargs["token_type_ids"] = type_ids
    with torch.no_grad():
        return hf_model(ids, **kwargs)


def compare(model, hf_model, ids, mask, type_ids=None):
    """Assert every output the checkpoint's head produces matches transformers; returns the largest error seen."""
    ref = reference_outputs(hf_model, ids, mask, type_ids)
    out = model(ids, attention_mask=mask, token_type_ids=type_ids, output_hidden_states=True)
    errors = {}
    assert len(out.hidden_states) == len(ref.hidden_states)
    for i, (a, b) in enumerate(zip(out.hidden_states, ref.hidden_states)):
        errors[f"hidden_states[{i}]"] = max_error_on_tokens(a, b, mask)
    if getattr(ref, "last_hidden_state", None) is not None:
        errors["last_hidden_state"] = max_error_on_tokens(out.last_hidden_state, ref.last_hidden_state, mask)
    if getattr(ref, "pooler_output", None) is not None:
        errors["pooler_output"] = (out.pooler_output - ref.pooler_output).abs().max().item()
    task = model.config.task
    if task in ("masked_lm", "token_classification"):
        errors["logits"] = max_error_on_tokens(out.logits, ref.logits, mask)
    elif task in ("sequence_classification", "next_sentence"):
        errors["logits"] = (out.logits - ref.logits).abs().max().item()
    elif task == "pretraining":
        errors["logits"] = max_error_on_tokens(out.logits, ref.prediction_logits, mask)
        pair = ref.seq_relationship_logits if hasattr(ref, "seq_relationship_logits") else ref.sop_logits
        errors["seq_relationship_logits"] = (out.seq_relationship_logits - pair).abs().max().item()
    elif task == "question_answering":
        errors["start_logits"] = max_error_on_tokens(out.start_logits, ref.start_logits, mask)
        errors["end_logits"] = max_error_on_tokens(out.end_logits, ref.end_logits, mask)
    bad = {k: v for k, v in errors.items() if not v <= ATOL}
    assert not bad, f"errors above {ATOL}: {bad}"
    record(model.config.model_type, max(errors.values()))
    return max(errors.values())


@pytest.mark.parametrize("family,head", ALL, ids=[f"{f}-{h}" for f, h in ALL])
def test_matches_transformers(tmp_path, family, head):
    hf_model = build(family, head)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    config = model.config
    pad = config.pad_token_id
    ids, mask = padded_batch(config.vocab_size, [7, 1, 12, 3], pad)
    type_ids = None
    if config.type_vocab_size > 1:
        type_ids = (torch.arange(ids.shape[1]) >= 4).long().expand_as(ids) * mask
    compare(model, hf_model, ids, mask, type_ids)


@pytest.mark.parametrize("family", list(FAMILY_CONFIGS))
def test_every_length_up_to_the_position_limit(tmp_path, family):
    hf_model = build(family, "Model")
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    longest = model.max_length
    lengths = [1, 2, longest // 2, longest - 1, longest]
    ids, mask = padded_batch(model.config.vocab_size, lengths, model.config.pad_token_id, seed=3)
    compare(model, hf_model, ids, mask)
    with pytest.raises(ValueError, match="at most"):
        model(torch.ones(1, longest + 1, dtype=torch.long) * 5)


@pytest.mark.parametrize("layout", ["safetensors", "sharded", "legacy_bin"])
@pytest.mark.parametrize("family,head", [("bert", "ForPreTraining"), ("roberta", "ForMaskedLM"),
                                         ("distilbert", "ForMaskedLM"), ("albert", "ForMaskedLM")])
def test_checkpoint_layouts(tmp_path, family, head, layout):
    hf_model = build(family, head)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt", layout))
    ids, mask = padded_batch(model.config.vocab_size, [5, 9], model.config.pad_token_id)
    compare(model, hf_model, ids, mask)


@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu", "gelu_pytorch_tanh", "silu", "gelu_fast", "quick_gelu"])
def test_hidden_activations(tmp_path, act):
    hf_model = build("bert", "ForMaskedLM", hidden_act=act, layer_norm_eps=1e-7)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [6, 2], 0)
    compare(model, hf_model, ids, mask)


def test_untied_decoder(tmp_path):
    hf_model = build("roberta", "ForMaskedLM", tie_word_embeddings=False)
    assert hf_model.lm_head.decoder.weight.data_ptr() != hf_model.roberta.embeddings.word_embeddings.weight.data_ptr()
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [6, 2], 1)
    compare(model, hf_model, ids, mask)


def test_distilbert_sinusoidal_positions(tmp_path):
    hf_model = build("distilbert", "ForMaskedLM", sinusoidal_pos_embds=True)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [6, 9], 0)
    compare(model, hf_model, ids, mask)


def test_albert_shared_groups_hidden_states(tmp_path):
    hf_model = build("albert", "Model", num_hidden_layers=6, num_hidden_groups=3, inner_group_num=1)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    assert len(model.encoder.layers) == 3  # six steps through three shared layers
    ids, mask = padded_batch(model.config.vocab_size, [6, 9], 0)
    compare(model, hf_model, ids, mask)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_close_to_fp32(tmp_path, dtype):
    hf_model = build("bert", "ForMaskedLM")
    folder = save(hf_model, tmp_path / "ckpt")
    full = fastenc.load(folder)
    low = fastenc.load(folder, dtype=dtype)
    assert low.dtype == dtype
    ids, mask = padded_batch(full.config.vocab_size, [6, 9], 0)
    a = full(ids, attention_mask=mask).last_hidden_state
    b = low(ids, attention_mask=mask).last_hidden_state.float()
    keep = mask.bool()
    cosine = torch.nn.functional.cosine_similarity(a[keep], b[keep], dim=-1)
    assert cosine.min() > 0.99, cosine.min()


def test_inputs_are_checked(tmp_path):
    model = fastenc.load(save(build("bert"), tmp_path / "ckpt"))
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, 101\)"):
        model(torch.tensor([[5, 101]]))
    with pytest.raises(ValueError, match="attention_mask has shape"):
        model(torch.tensor([[5, 6]]), attention_mask=torch.ones(1, 3))
    with pytest.raises(TypeError, match="input_ids must hold integers"):
        model(torch.tensor([[5.0, 6.0]]))
    with pytest.raises(ValueError, match="token_type_ids must lie"):
        model(torch.tensor([[5, 6]]), token_type_ids=torch.tensor([[0, 3]]))
    with pytest.raises(ValueError, match="empty"):
        model(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="rectangular"):
        model([[5, 6], [7]])
    one = model([5, 6, 7]).last_hidden_state  # a single sequence is a batch of one
    assert one.shape == (1, 3, 48)


@pytest.mark.parametrize("family,head", [("bert", "ForPreTraining"), ("roberta", "ForMaskedLM"),
                                         ("distilbert", "ForSequenceClassification"), ("albert", "ForMaskedLM")])
def test_triton_backend_matches_torch_backend(tmp_path, family, head):
    """The fused kernels (compiled on CUDA, interpreted on the CPU) against the reference, end to end."""
    pytest.importorskip("triton", reason="the triton backend needs triton")
    import os

    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("no CUDA and the Triton interpreter is off")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    folder = save(build(family, head), tmp_path / "ckpt")
    ref = fastenc.load(folder, device=device, dtype=torch.float32, backend="torch")
    fused = fastenc.load(folder, device=device, dtype=torch.float32, backend="triton")
    ids, mask = padded_batch(ref.config.vocab_size, [7, 1, 12], ref.config.pad_token_id)
    a = ref(ids, attention_mask=mask, output_hidden_states=True)
    b = fused(ids, attention_mask=mask, output_hidden_states=True)
    keep = mask.to(device).bool()
    for x, y in zip(a.hidden_states, b.hidden_states, strict=True):
        assert (x[keep] - y[keep]).abs().max().item() <= 2e-5
    logits_a, logits_b = (a.logits, b.logits)
    if logits_a.dim() == 3:
        logits_a, logits_b = logits_a[keep], logits_b[keep]
    assert (logits_a - logits_b).abs().max().item() <= 2e-5

"""fp32 parity with transformers for every family and head, on tiny random checkpoints with padded batches."""
import pytest
import torch

import fastenc
from model_compare import compare, compare_on_device, triton_device_or_skip
from tiny_checkpoints import ALL, FAMILY_CONFIGS, build, padded_batch, save


@pytest.mark.parity
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


@pytest.mark.parity
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


@pytest.mark.parity
@pytest.mark.parametrize("layout", ["safetensors", "sharded", "legacy_bin"])
@pytest.mark.parametrize("family,head", [("bert", "ForPreTraining"), ("roberta", "ForMaskedLM"),
                                         ("distilbert", "ForMaskedLM"), ("albert", "ForMaskedLM"),
                                         ("modernbert", "ForMaskedLM")])
def test_checkpoint_layouts(tmp_path, family, head, layout):
    hf_model = build(family, head)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt", layout))
    ids, mask = padded_batch(model.config.vocab_size, [5, 9], model.config.pad_token_id)
    compare(model, hf_model, ids, mask)


@pytest.mark.parity
@pytest.mark.parametrize("act", ["gelu", "gelu_new", "relu", "gelu_pytorch_tanh", "silu", "gelu_fast", "quick_gelu"])
def test_hidden_activations(tmp_path, act):
    hf_model = build("bert", "ForMaskedLM", hidden_act=act, layer_norm_eps=1e-7)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [6, 2], 0)
    compare(model, hf_model, ids, mask)


@pytest.mark.parity
def test_untied_decoder(tmp_path):
    hf_model = build("roberta", "ForMaskedLM", tie_word_embeddings=False)
    assert hf_model.lm_head.decoder.weight.data_ptr() != hf_model.roberta.embeddings.word_embeddings.weight.data_ptr()
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [6, 2], 1)
    compare(model, hf_model, ids, mask)


@pytest.mark.parity
def test_distilbert_sinusoidal_positions(tmp_path):
    hf_model = build("distilbert", "ForMaskedLM", sinusoidal_pos_embds=True)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [6, 9], 0)
    compare(model, hf_model, ids, mask)


@pytest.mark.parity
def test_albert_shared_groups_hidden_states(tmp_path):
    hf_model = build("albert", "Model", num_hidden_layers=6, num_hidden_groups=3, inner_group_num=1)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    assert len(model.encoder.layers) == 3  # six steps through three shared layers
    ids, mask = padded_batch(model.config.vocab_size, [6, 9], 0)
    compare(model, hf_model, ids, mask)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("family", ["bert", "gte"])  # gte: RoPE and the gated MLP in low precision
def test_low_precision_close_to_fp32(tmp_path, dtype, family):
    hf_model = build(family, "ForMaskedLM")
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


@pytest.mark.parity
@pytest.mark.parametrize("family,head", [("bert", "ForPreTraining"), ("roberta", "ForMaskedLM"),
                                         ("distilbert", "ForSequenceClassification"), ("albert", "ForMaskedLM")])
def test_triton_backend_matches_torch_backend(tmp_path, family, head):
    """The fused kernels (compiled on CUDA, interpreted on the CPU) under the parity rule, end to end."""
    device = triton_device_or_skip()
    hf_model = build(family, head)
    folder = save(hf_model, tmp_path / "ckpt")
    fused = fastenc.load(folder, device=device, dtype=torch.float32, backend="triton")
    ids, mask = padded_batch(fused.config.vocab_size, [7, 1, 12], fused.config.pad_token_id)
    compare_on_device(f"{family}-triton", fused, hf_model, ids, mask, device)

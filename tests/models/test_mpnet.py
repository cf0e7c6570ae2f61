"""MPNet against transformers: the relative position bias in lengths that reach the exact, log and clamped buckets,
head dims 16/32/48, odd layer counts, padded, packed and unpadded batches, masks with holes and left padding, every
head; on the CPU path and under the Triton interpreter; bad configs refused naming the field."""
import pytest
import torch

import fastenc
from model_compare import compare, triton_device_or_skip
from tiny_checkpoints import build, padded_batch, rewrite_config, save

VARIANTS = {
    "hd16-3layers": dict(),  # the tiny_checkpoints shape: 3 heads of 16, three layers, up to 38 tokens
    "hd32-1layer": dict(hidden_size=64, num_attention_heads=2, num_hidden_layers=1),
    "hd48-5layers": dict(hidden_size=96, num_attention_heads=2, num_hidden_layers=5, intermediate_size=50),
    # Distances past max_distance 128 share the last bucket; a table wider than the 32 buckets read.
    "long-clamped": dict(max_position_embeddings=150, num_hidden_layers=1, relative_attention_num_buckets=40),
}


def _lengths(model):
    longest = model.max_length
    return [1, longest, longest // 2 + 1, 9, 2]  # 1 to the maximum, padded


@pytest.mark.parity
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_encoder_matches_transformers(tmp_path, variant):
    hf_model = build("mpnet", "Model", **VARIANTS[variant])
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, _lengths(model), 1, seed=2)
    compare(model, hf_model, ids, mask)  # packed path
    compare(model, hf_model, ids[1:2], None)  # one unpadded row: the padded path without a mask
    assert model(ids, attention_mask=mask).pooler_output.shape == (len(ids), model.config.hidden_size)


@pytest.mark.parity
@pytest.mark.parametrize("head", ["ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                                  "ForQuestionAnswering"])
def test_heads_match_transformers(tmp_path, head):
    hf_model = build("mpnet", head, **VARIANTS["hd32-1layer"])
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, _lengths(model), 1, seed=3)
    compare(model, hf_model, ids, mask)


@pytest.mark.parity
def test_holes_and_left_padding_keep_transformers_distances(tmp_path):
    """Relative distances count columns: masks with holes or left padding run padded, not packed."""
    hf_model = build("mpnet", "ForTokenClassification")
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"))
    ids, mask = padded_batch(model.config.vocab_size, [19, 30, 4], 1, seed=4)
    holes = mask.clone()
    holes[1, 3:5] = 0
    assert not model.model.packable(holes) and model.model.packable(mask)
    compare(model, hf_model, ids, holes)
    compare(model, hf_model, torch.flip(ids, dims=[1]), torch.flip(mask, dims=[1]))


@pytest.mark.parity
@pytest.mark.parametrize("variant,head", [("hd16-3layers", "Model"), ("hd32-1layer", "ForMaskedLM"),
                                          ("hd48-5layers", "ForSequenceClassification")])
def test_triton_backend_matches_transformers(tmp_path, variant, head):
    device = triton_device_or_skip()
    # At most two layers: the interpreter runs every program in Python; odd counts are covered on the CPU path.
    overrides = {**VARIANTS[variant], "num_hidden_layers": min(2, VARIANTS[variant].get("num_hidden_layers", 2))}
    hf_model = build("mpnet", head, **overrides)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"), device=device, dtype=torch.float32, backend="triton")
    # Fewer rows than on the CPU path: the interpreter's cost grows with the tokens and the length. Distances past
    # the 128 clamp run in the kernel tests (tests/kernels/test_attention.py) and here on the CPU path.
    ids, mask = padded_batch(model.config.vocab_size, [1, model.max_length, 9], 1, seed=5)
    compare(model, hf_model, ids, mask)  # packed: the kernel's varlen mode
    if head != "Model":  # the padded mode on the two heads' checkpoints (the encoder's three heads cost the most)
        model.model.padding_free = False
        compare(model, hf_model, ids, mask)  # padded with a key mask


def test_bad_configs_name_the_field(tmp_path):
    folder = save(build("mpnet", "Model"), tmp_path / "ckpt")
    original = (folder / "config.json").read_text()
    for changes, message in ((dict(relative_attention_num_buckets=16), "relative_attention_num_buckets is 16"),
                             (dict(relative_attention_num_buckets="32"), "relative_attention_num_buckets must be"),
                             (dict(max_position_embeddings=2), "max_position_embeddings 2"),
                             (dict(hidden_act=7), "hidden_act must be a string"),
                             (dict(architectures=["MPNetForMultipleChoice"]), "MPNetForMultipleChoice")):
        rewrite_config(folder, **changes)
        with pytest.raises(fastenc.ConfigError, match=message):
            fastenc.load(folder)
        (folder / "config.json").write_text(original)


@pytest.mark.parity
def test_embed_as_all_mpnet_base_v2_from_its_sentence_transformers_files(tmp_path):
    """all-mpnet-base-v2's layout: mean pooling and Normalize from modules.json / 1_Pooling. model.embed with no
    arguments equals sentence-transformers' encode on the same folder, under the parity rule."""
    import json

    sentence_transformers = pytest.importorskip("sentence_transformers")
    from parity import assert_parity, float64_twin
    from real_vocab_checkpoints import build_with_tokenizer, reference_embedding, write_sentence_transformers_files

    folder = tmp_path / "all-mpnet"
    hf_model, hf_tok = build_with_tokenizer("mpnet", "Model", folder, seed=7)
    write_sentence_transformers_files(folder)  # mean pooling, then Normalize
    pooling = folder / "1_Pooling" / "config.json"  # sentence-transformers itself also needs the width
    pooling.write_text(json.dumps({**json.loads(pooling.read_text()), "word_embedding_dimension": 32}))
    texts = ["A man is eating food.", "The <mask> sat on the mat.", "x", "Ünïcödé and a longer sentence " * 3]
    ours = fastenc.load(folder).embed(texts)
    theirs = torch.as_tensor(sentence_transformers.SentenceTransformer(str(folder), device="cpu").encode(texts))
    twin = float64_twin(hf_model)
    exact = torch.nn.functional.normalize(torch.stack([reference_embedding(twin, hf_tok, t, "mean") for t in texts]))
    assert_parity("mpnet", "all-mpnet embed", ours, theirs, exact)


def test_defaults_and_mismatched_table_name_the_tensor(tmp_path):
    """A config.json without the bucket count reads MPNetConfig's 32; a table of another size than config.json says
    is an error naming the tensor and both shapes."""
    import json

    from fastenc.loading.weights import WeightsError

    folder = save(build("mpnet", "Model"), tmp_path / "ckpt")
    raw = json.loads((folder / "config.json").read_text())
    del raw["relative_attention_num_buckets"]
    (folder / "config.json").write_text(json.dumps(raw))
    assert fastenc.load(folder).config.mpnet.relative_attention_num_buckets == 32
    rewrite_config(folder, relative_attention_num_buckets=40)
    with pytest.raises(WeightsError, match=r"encoder.relative_attention_bias.weight' has shape \(32, 3\), "
                                           r"expected \(40, 3\)"):
        fastenc.load(folder)
    with pytest.raises(ValueError, match="take no token_type_ids"):
        fastenc.load(save(build("mpnet", "Model"), tmp_path / "ok"))(torch.tensor([[5, 6]]),
                                                                      token_type_ids=torch.tensor([[0, 1]]))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_close_to_fp32(tmp_path, dtype):
    folder = save(build("mpnet", "ForMaskedLM"), tmp_path / "ckpt")
    full, low = fastenc.load(folder), fastenc.load(folder, dtype=dtype)
    ids, mask = padded_batch(full.config.vocab_size, [6, 19, 38], 1)
    a = full(ids, attention_mask=mask).last_hidden_state
    b = low(ids, attention_mask=mask).last_hidden_state.float()
    keep = mask.bool()
    cosine = torch.nn.functional.cosine_similarity(a[keep], b[keep], dim=-1)
    assert cosine.min() > 0.99, cosine.min()  # the bound tests/models/test_model.py holds BERT to


@pytest.mark.hub
@pytest.mark.parity
def test_real_all_mpnet_base_v2_matches_sentence_transformers():
    """The real all-mpnet-base-v2 from the Hub: model.embed (its files' mean pooling and Normalize) equals
    sentence-transformers' encode under the parity rule."""
    sentence_transformers = pytest.importorskip("sentence_transformers")
    from parity import assert_parity, float64_twin

    name = "sentence-transformers/all-mpnet-base-v2"
    texts = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.", "x"]
    st = sentence_transformers.SentenceTransformer(name, device="cpu")
    theirs = torch.as_tensor(st.encode(texts))
    ours = fastenc.load(name).embed(texts)
    twin = float64_twin(st[0].auto_model)
    exact = []
    for text in texts:
        enc = st.tokenizer(text, return_tensors="pt")
        with torch.no_grad():
            hidden = twin(**enc).last_hidden_state[0]  # (T, H) float64
        exact.append(torch.nn.functional.normalize(hidden.mean(0), dim=0))
    assert_parity("mpnet-real", "all-mpnet-base-v2 embed", ours, theirs, torch.stack(exact))

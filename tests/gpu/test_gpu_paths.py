"""On CUDA: the padded, padding-free and packed paths give the same outputs, and CUDA-graph replays equal eager calls
(every bucket, repeated inputs, results that outlive the next replay). The models that may run in the dry run name
backend="triton" (CUDA's default), so there too the kernels run, through the interpreter, not the CPU reference."""
import pytest
import torch

import fastenc
import stored_references
from gpu_helpers import DRY, token_cosines
from tiny_checkpoints import build, has_family, padded_batch, save

DTYPES = [torch.float32, torch.bfloat16]
IDS = ["fp32", "bf16"]
SHAPE = dict(hidden_size=128, num_attention_heads=2, intermediate_size=256, max_position_embeddings=300)


def assert_same(got, want, mask, dtype):
    """fp32: within 1e-4 (the paths multiply matrices of different row counts, so cuBLAS may pick other kernels);
    bf16: per-token cosine >= 0.9999."""
    if dtype == torch.float32:
        keep = mask.bool().to(got.device)
        assert (got[keep] - want.to(got.device)[keep]).abs().max().item() <= 1e-4
    else:
        assert token_cosines(got, want, mask).min().item() >= 0.9999


@pytest.fixture(scope="module")
def folder(tmp_path_factory, device):
    return save(build("roberta", "ForMaskedLM", **SHAPE), tmp_path_factory.mktemp("roberta-mlm"))


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_padded_padding_free_and_packed_agree(folder, device, dtype):
    model = fastenc.load(folder, device=device, dtype=dtype, backend="triton")
    lengths = [40, 7, 21, 1] if DRY else [150, 7, 64, 1, 99, 298]
    ids, mask = padded_batch(model.config.vocab_size, lengths, 1)
    free = model(ids, attention_mask=mask)
    packed = model(ids, attention_mask=mask, packed_output=True)
    model.padding_free = False
    padded = model(ids, attention_mask=mask)
    keep = mask.bool().to(free.last_hidden_state.device)
    # Packed output is the padding-free run before re-padding: the same numbers.
    assert torch.equal(packed.last_hidden_state, free.last_hidden_state[keep])
    assert torch.equal(packed.logits, free.logits[keep])
    assert packed.cu_seqlens.tolist() == [0] + torch.tensor(lengths).cumsum(0).tolist()
    assert_same(free.last_hidden_state, padded.last_hidden_state, mask, dtype)
    assert_same(free.logits, padded.logits, mask, dtype)


@pytest.fixture
def cuda(device):
    if device != "cuda":
        pytest.skip("CUDA graphs need CUDA (the dry run has none to capture)")
    return device


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_graph_replays_equal_eager_in_every_bucket(folder, cuda, dtype):
    eager = fastenc.load(folder, device=cuda, dtype=dtype)
    eager.padding_free = False  # graphs replay the padded path
    graphs = fastenc.load(folder, device=cuda, dtype=dtype).enable_cuda_graphs()
    batches = [[9, 4], [30], [3, 3, 3], [33, 20, 5], [128], [1] * 16, [100, 64, 12, 1, 77]]
    for seed, lengths in enumerate(batches):
        ids, mask = padded_batch(eager.config.vocab_size, lengths, 1, seed=seed)
        want = eager(ids, attention_mask=mask)
        for _ in range(2):  # capture (or reuse a bucket's graph), then replay
            got = graphs(ids, attention_mask=mask)
            assert got.last_hidden_state.shape == want.last_hidden_state.shape
            assert_same(got.last_hidden_state, want.last_hidden_state, mask, dtype)
            assert_same(got.logits, want.logits, mask, dtype)
    assert len(graphs.graphs.capture_seconds) <= len(batches)
    # The MLM head runs after each replay on the real corner: no graph keeps (rows, positions, vocab) logits resident.
    assert all(graph.output.logits is None for graph in graphs.graphs.graphs.values())


def warm_call_without_syncs(model, ids, mask):
    """(first output, second output): the second call runs with every host sync an error. The first may sync:
    autotuning and graph capture do."""
    first = model(ids, attention_mask=mask)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        return first, model(ids, attention_mask=mask)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("with_graphs", [False, True], ids=["padding-free", "graphs"])
def test_a_warm_forward_from_host_inputs_never_waits_on_the_gpu(folder, cuda, with_graphs):
    """The host only queues work: inputs go up from pinned memory, the re-padding indices too, nothing is read back."""
    model = fastenc.load(folder, device=cuda, dtype=torch.bfloat16)
    if with_graphs:
        model.enable_cuda_graphs()
    want, got = warm_call_without_syncs(model, *padded_batch(model.config.vocab_size, [40, 7, 21], 1))
    assert torch.equal(got.logits, want.logits)


@pytest.mark.parametrize("with_graphs", [False, True], ids=["padding-free", "graphs"])
@pytest.mark.parametrize("family", ["bert", "distilbert", "albert", "modernbert", "deberta-v2", "electra", "gte",
                                    "nomic_bert", "mpnet"])
def test_every_family_forwards_from_host_inputs_without_waiting(tmp_path, cuda, family, with_graphs):
    """The same for each family's own steps (RoPE angles, relative positions, DeBERTa's windows): nothing reads the
    device back during a warm forward, padding-free or replayed (a host copy in the forward would also fail the
    capture)."""
    # Any checkpoint of the family does; where this transformers cannot build one, the stored reference's does.
    folder = save(build(family), tmp_path / family) if has_family(family) else stored_references.load(family).folder
    model = fastenc.load(folder, device=cuda, dtype=torch.bfloat16)
    if with_graphs:
        model.enable_cuda_graphs()
    batch = padded_batch(model.config.vocab_size, [30, 7, 21], model.config.pad_token_id or 0)
    want, got = warm_call_without_syncs(model, *batch)
    assert torch.equal(got.last_hidden_state, want.last_hidden_state)


def test_device_inputs_give_what_host_inputs_give_and_the_same_errors(folder, device):
    """Inputs already on the GPU are checked from one host copy of their reductions and the mask."""
    model = fastenc.load(folder, device=device, dtype=torch.float32, backend="triton")
    ids, mask = padded_batch(model.config.vocab_size, [30, 9, 17], 1)
    want = model(ids, attention_mask=mask)
    got = model(ids.to(device), attention_mask=mask.to(device))
    keep = mask.bool().to(got.last_hidden_state.device)
    assert torch.equal(got.last_hidden_state[keep], want.last_hidden_state[keep])
    bad = ids.clone()
    bad[1, 2] = model.config.vocab_size
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, "):
        model(bad.to(device), attention_mask=mask.to(device))
    with pytest.raises(ValueError, match="attention_mask must hold only 0"):
        model(ids.to(device), attention_mask=(mask * 2).to(device))
    empty = mask.clone()
    empty[2] = 0
    with pytest.raises(ValueError, match=r"marks no token in row\(s\) \[2\]"):
        model(ids.to(device), attention_mask=empty.to(device))


def test_graph_results_outlive_the_next_replay(folder, cuda):
    model = fastenc.load(folder, device=cuda, dtype=torch.float32).enable_cuda_graphs()
    first_ids, mask = padded_batch(model.config.vocab_size, [20, 11], 1, seed=1)
    second_ids, _ = padded_batch(model.config.vocab_size, [20, 11], 1, seed=2)
    first = model(first_ids, attention_mask=mask)
    kept = first.last_hidden_state.clone()
    second = model(second_ids, attention_mask=mask)  # same bucket: the same static buffers
    assert len(model.graphs.capture_seconds) == 1
    assert torch.equal(first.last_hidden_state, kept)
    assert not torch.equal(second.last_hidden_state, kept)
    again = model(first_ids, attention_mask=mask)
    assert torch.equal(again.last_hidden_state, kept)  # a replay of the same input is deterministic

"""The task runner: chunks encoded ahead in order, batches gathered from flat arrays, results back in input order."""
import numpy as np
import torch

import fastenc
from fastenc.ops.packing import gather_rows, row_positions
from fastenc.tasks import runner as runner_module
from fastenc.tasks.runner import Runner
from real_vocab_checkpoints import build_with_tokenizer


def _fake_encode(items):
    lengths = np.array([len(t) for t in items], dtype=np.int64)
    cu = np.concatenate(([0], np.cumsum(lengths)))
    return {"input_ids": np.arange(int(cu[-1]), dtype=np.int64), "cu_seqlens": cu}


def test_chunks_keep_order_and_offsets():
    seen = []

    def encode(items):
        seen.append(list(items))
        return _fake_encode(items)

    texts = ["a", "bbb", "cc", "dddd", "e"]
    with Runner("test") as runner:
        got = [(c.start, c.items, c.lengths.tolist()) for c in runner.chunks(iter(texts), encode, size=2)]
    assert got == [(0, ["a", "bbb"], [1, 3]), (2, ["cc", "dddd"], [2, 4]), (4, ["e"], [1])]
    assert seen == [["a", "bbb"], ["cc", "dddd"], ["e"]]


def test_results_come_back_in_input_order():
    texts = ["aaaa", "b", "ccc", "dd", "eeeee", "f"]
    with Runner("test", max_batch_tokens=5) as runner:
        chunk = next(runner.chunks(texts, _fake_encode))
        batches = []

        def process(batch):
            batches.append(batch.rows.tolist())
            ids = batch.tokens("input_ids")  # the batch's packed tokens, gathered from the chunk's flat arrays
            cu = batch.cu_seqlens
            return [texts[r] + ":" + ",".join(map(str, ids[a:b])) for r, a, b in zip(batch.rows, cu[:-1], cu[1:])]

        out = runner.run(chunk, process)
    assert out == ["aaaa:0,1,2,3", "b:4", "ccc:5,6,7", "dd:8,9", "eeeee:10,11,12,13,14", "f:15"]
    assert batches[0] == [1, 5, 3]  # shortest first, within 5 real tokens
    assert all(sum(len(texts[r]) for r in b) <= 5 or len(b) == 1 for b in batches)


def test_gather_rows_and_positions():
    cu = np.array([0, 3, 4, 8])
    index, sub = gather_rows(cu, np.array([2, 0]))
    assert index.tolist() == [4, 5, 6, 7, 0, 1, 2] and sub.tolist() == [0, 4, 7]
    assert row_positions(cu).tolist() == [0, 1, 2, 0, 0, 1, 2, 3]


def test_embed_across_chunks_equals_one_chunk(tmp_path, monkeypatch):
    build_with_tokenizer("roberta", "Model", tmp_path)
    model = fastenc.load(tmp_path)
    texts = [f"sentence number {i} " + "word " * (i % 7) for i in range(11)]
    whole = model.embed(texts, pooling="mean")
    monkeypatch.setattr(runner_module, "CHUNK_SIZE", 3)
    chunked = model.embed(iter(texts), pooling="mean", batch_size=2)
    assert chunked.shape == whole.shape and torch.allclose(chunked, whole, atol=1e-5)


def test_packed_positions_number_as_the_padded_call(tmp_path):
    """RoBERTa skips the pad id when numbering positions, even inside a text; packed rows must agree."""
    from tiny_checkpoints import build, save

    model = fastenc.load(save(build("roberta", "Model"), tmp_path / "ckpt")).model
    rows = [[0, 5, 1, 6, 2], [0, 7, 2]]  # the first row spells the pad id (1) inside the text
    padded = torch.tensor([rows[0], rows[1] + [1, 1]])
    expected = model.embeddings.position_ids(padded)[padded.ne(1) | (torch.arange(5) < torch.tensor([[5], [3]]))]
    flat = np.array(rows[0] + rows[1])
    packed = model.pack(flat, np.array([0, 5, 8]))
    assert packed.position_ids.tolist() == expected.tolist()


def test_default_token_budget_follows_the_device():
    from fastenc.tasks.batching import DEFAULT_MAX_BATCH_TOKENS, DEFAULT_MAX_BATCH_TOKENS_CPU

    assert Runner("t", device="cpu").max_batch_tokens == DEFAULT_MAX_BATCH_TOKENS_CPU
    assert Runner("t", device="cuda").max_batch_tokens == DEFAULT_MAX_BATCH_TOKENS
    assert Runner("t", batch_size=8, device="cpu").max_batch_tokens is None  # rows alone bound the batch, as asked
    assert Runner("t", max_batch_tokens=100, device="cpu").max_batch_tokens == 100


def test_cpu_budget_fits_the_widest_activation(tmp_path):
    """The CPU budget halves until tokens x the widest activation stay under glibc's mmap ceiling; GPUs keep theirs."""
    from fastenc.tasks.batching import (CPU_ACTIVATION_CEILING, DEFAULT_MAX_BATCH_TOKENS, default_batch_tokens,
                                        widest_activation_bytes)
    assert default_batch_tokens("cpu", 1536 * 4) == 4096  # MiniLM's FFN in fp32: 24 MiB at 4,096 tokens
    assert default_batch_tokens("cpu", 3072 * 4) == 2048  # bert-base's FFN in fp32
    assert default_batch_tokens("cpu", 3072 * 2) == 4096  # ... in bf16
    assert default_batch_tokens("cpu", 10**9) == 512  # never below 512
    assert default_batch_tokens("cuda", 3072 * 4) == DEFAULT_MAX_BATCH_TOKENS
    assert 2048 * 3072 * 4 <= CPU_ACTIVATION_CEILING < 4096 * 3072 * 4
    build_with_tokenizer("bert", "Model", tmp_path)
    engine = fastenc.load(tmp_path, device="cpu")
    widest = max(m.out_features for m in engine.model.encoder.modules() if isinstance(m, torch.nn.Linear))
    assert widest_activation_bytes(engine) == widest * 4
    assert Runner.for_model("t", engine).max_batch_tokens == default_batch_tokens("cpu", widest * 4)

"""fastenc.ray on a real local Ray cluster: results equal the engine's direct calls, every row exactly once (even when
an actor's process is killed mid-job), other columns untouched, bad rows as error values."""
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

import fastenc

ray = pytest.importorskip("ray")
import fastenc.ray  # noqa: E402 - after the skip: needs Ray

# Ray workers cannot import this test module: the functions below travel to them by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

TEXTS = ["Paris is the capital of France.", "a", "", "the quick brown fox " * 5, "hello [MASK] world",
         "Ray Data hands each actor one block at a time.", "[MASK] and [MASK]"]


def _dataset(texts, blocks=1):
    rows = [{"id": 100 + i, "text": t, "lang": "en", "score": i / 10} for i, t in enumerate(texts)]
    return ray.data.from_items(rows, override_num_blocks=blocks)


def test_fastenc_import_does_not_import_ray():
    import subprocess
    import sys

    code = "import sys, fastenc; fastenc.load; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_embed_equals_direct_embed(ray_cluster, checkpoints, engines):
    out = fastenc.ray.embed(_dataset(TEXTS, blocks=3), checkpoints["mlm"], pooling="mean", normalize=True,
                            batch_size=3).take_all()
    out.sort(key=lambda r: r["id"])
    assert [r["id"] for r in out] == [100 + i for i in range(len(TEXTS))]
    assert [(r["text"], r["lang"], r["score"]) for r in out] == [(t, "en", i / 10) for i, t in enumerate(TEXTS)]
    assert all(r["embedding_error"] is None for r in out)
    got = torch.tensor([list(r["embedding"]) for r in out])
    # Other batches and one torch thread in the actor: equal up to float32 rounding.
    torch.testing.assert_close(got, engines["mlm"].embed(TEXTS, pooling="mean", normalize=True))


def test_classify_tag_fill_mask_equal_direct_calls(ray_cluster, checkpoints, engines):
    texts = ["I love this!", "My name is Wolfgang and I live in Berlin.", "Berlin"]
    got = fastenc.ray.classify(_dataset(texts), checkpoints["classify"]).take_all()
    direct = engines["classify"].classify(texts)
    for row in sorted(got, key=lambda r: r["id"]):
        record = direct[row["id"] - 100]
        assert row["classification"]["label"] == record["label"]
        torch.testing.assert_close(row["classification"]["scores"], record["scores"])
    got = sorted(fastenc.ray.tag(_dataset(texts), checkpoints["tag"]).take_all(), key=lambda r: r["id"])
    direct = engines["tag"].tag(texts)
    for row, groups in zip(got, direct):
        assert [(g["entity_group"], g["word"], g["start"], g["end"]) for g in row["entities"]] == \
            [(g["entity_group"], g["word"], g["start"], g["end"]) for g in groups]
    masked = ["hello [MASK] world", "[MASK] and [MASK]"]
    got = sorted(fastenc.ray.fill_mask(_dataset(masked), checkpoints["mlm"], top_k=2).take_all(),
                 key=lambda r: r["id"])
    direct = engines["mlm"].fill_mask(masked, top_k=2)
    tokens = [[[p["token"] for p in mask] for mask in row["predictions"]] for row in got]
    assert tokens == [[[p["token"] for p in direct[0]]], [[p["token"] for p in mask] for mask in direct[1]]]


def test_bad_rows_give_error_values_and_raise_on_request(ray_cluster, checkpoints):
    rows = [{"id": 0, "text": "fine"}, {"id": 1, "text": None}, {"id": 2, "text": "also fine"}]
    out = sorted(fastenc.ray.embed(ray.data.from_items(rows), checkpoints["mlm"]).take_all(), key=lambda r: r["id"])
    assert [r["embedding_error"] for r in out] == [None, "text is null", None]
    assert out[1]["embedding"] is None and len(out[0]["embedding"]) == 32
    with pytest.raises(Exception, match="row 1 of the batch: text is null"):
        fastenc.ray.embed(ray.data.from_items(rows), checkpoints["mlm"], errors="raise").take_all()
    with pytest.raises(ValueError, match="concurrency must be a positive int"):
        fastenc.ray.embed(ray.data.from_items(rows), checkpoints["mlm"], concurrency=0)


def _slow_source(batch):
    """Upstream work that takes time (as reading slow storage would), so the job is still running when the actor
    is killed."""
    time.sleep(0.25)
    return {"id": batch["id"], "text": [f"text number {i} " * (1 + i % 7) for i in batch["id"]]}


def _task_actor_pids() -> set:
    """Processes of fastenc's Ray Data actors: Ray titles a worker process after the actor it hosts (Linux /proc)."""
    pids = set()
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"MapBatches(TaskActor)" in cmdline.read_bytes():
                pids.add(int(cmdline.parent.name))
        except OSError:  # the process ended while we looked
            pass
    return pids


def test_killed_actor_is_restarted_and_every_row_comes_once(ray_cluster, checkpoints):
    n, blocks = 240, 24
    ds = ray.data.range(n, override_num_blocks=blocks).map_batches(_slow_source, batch_size=n // blocks)
    rows = fastenc.ray.embed(ds, checkpoints["mlm"], batch_size=10)
    seen, killed, restarted = [], None, set()
    for row in rows.iter_rows():
        seen.append(row)
        if killed is None:
            pids = _task_actor_pids()
            assert len(pids) == 1, f"expected the one TaskActor process, found {pids}"
            killed = pids.pop()
            os.kill(killed, signal.SIGKILL)
        else:
            restarted |= _task_actor_pids() - {killed}
    assert sorted(r["id"] for r in seen) == list(range(n))  # every row, exactly once
    assert all(r["embedding_error"] is None for r in seen)
    assert restarted, "no new TaskActor process took over after the kill"

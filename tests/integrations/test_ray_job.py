"""`fastenc embed --ray` on a real local Ray cluster: text, JSON-lines and parquet in, parquet out, every row once with
its id (or row index), and re-runs that never duplicate a row."""
import json

import pytest

pytest.importorskip("pyarrow", reason="the test extra installs pyarrow")
import pyarrow as pa
import pyarrow.parquet as pq
import torch

pytest.importorskip("ray")
from fastenc.cli import main  # noqa: E402

TEXTS = ["first text", "", "a much longer third text about Ray Data and parquet files", "fourth", "fifth one",
         "sixth", "seventh text here"]


def _embed(model, source, out, *extra):
    return main(["embed", str(model), "--input", str(source), "--output", str(out), "--ray", "--no-progress",
                 "--pooling", "mean", "--shard-rows", "3", *extra])


def _read(out):
    return pq.read_table(out).to_pylist()  # the whole folder; ray_job wrote part-*.parquet and a manifest


def test_text_jsonl_parquet_round_trips(ray_cluster, checkpoints, engines, tmp_path):
    expected = engines["mlm"].embed(TEXTS, pooling="mean")
    (tmp_path / "in.txt").write_text("\n".join(TEXTS) + "\n")
    assert _embed(checkpoints["mlm"], tmp_path / "in.txt", tmp_path / "out-text") == 0
    rows = sorted(_read(tmp_path / "out-text"), key=lambda r: r["row"])
    assert [r["row"] for r in rows] == list(range(len(TEXTS))) and set(rows[0]) == {"row", "embedding",
                                                                                     "embedding_error"}
    torch.testing.assert_close(torch.tensor([r["embedding"] for r in rows]), expected)

    lines = [json.dumps({"id": f"doc-{i}", "text": t, "extra": i}) for i, t in enumerate(TEXTS)]
    lines.insert(2, json.dumps({"id": "doc-bad", "text": 5}))
    folder = tmp_path / "jsonl"
    folder.mkdir()
    (folder / "a.jsonl").write_text("\n".join(lines[:4]) + "\n")
    (folder / "b.jsonl").write_text("\n".join(lines[4:]) + "\n")
    assert _embed(checkpoints["mlm"], folder, tmp_path / "out-jsonl") == 0
    rows = {r["id"]: r for r in _read(tmp_path / "out-jsonl")}
    assert sorted(rows) == sorted([f"doc-{i}" for i in range(len(TEXTS))] + ["doc-bad"])
    assert rows["doc-bad"]["embedding"] is None and "text must be a str, not int" in rows["doc-bad"]["embedding_error"]
    torch.testing.assert_close(torch.tensor([rows[f"doc-{i}"]["embedding"] for i in range(len(TEXTS))]), expected)

    table = pa.table({"id": [10 * i for i in range(len(TEXTS))], "text": TEXTS})
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=2)
    assert _embed(checkpoints["mlm"], tmp_path / "in.parquet", tmp_path / "out-parquet", "--concurrency", "2") == 0
    rows = sorted(_read(tmp_path / "out-parquet"), key=lambda r: r["id"])
    assert [r["id"] for r in rows] == [10 * i for i in range(len(TEXTS))]
    torch.testing.assert_close(torch.tensor([r["embedding"] for r in rows]), expected)


def test_rerun_is_idempotent_and_resumes(ray_cluster, checkpoints, tmp_path, capsys):
    (tmp_path / "in.txt").write_text("\n".join(TEXTS))
    out = tmp_path / "out"
    assert _embed(checkpoints["mlm"], tmp_path / "in.txt", out) == 0
    first = sorted(_read(out), key=lambda r: r["row"])
    parts = sorted(out.glob("part-*.parquet"))
    assert len(parts) == 3  # 7 rows in shards of 3
    assert _embed(checkpoints["mlm"], tmp_path / "in.txt", out) == 0  # all written: nothing runs again
    assert "0 written now, 3 already there" in capsys.readouterr().err
    parts[1].unlink()  # as if the job had stopped before this shard: the re-run writes only it
    assert _embed(checkpoints["mlm"], tmp_path / "in.txt", out) == 0
    assert "1 written now, 2 already there" in capsys.readouterr().err
    again = sorted(_read(out), key=lambda r: r["row"])
    assert [r["row"] for r in again] == list(range(len(TEXTS)))  # no row twice, none lost
    assert again == first
    # Another job's options on the same folder cannot mix its rows in.
    assert _embed(checkpoints["mlm"], tmp_path / "in.txt", out, "--normalize") == 1
    assert "holds another job's results" in capsys.readouterr().err


def test_ray_options_need_ray(checkpoints, tmp_path, capsys):
    (tmp_path / "in.txt").write_text("x\n")
    assert main(["embed", str(checkpoints["mlm"]), "--input", str(tmp_path / "in.txt"), "--output",
                 str(tmp_path / "o.npy"), "--concurrency", "2"]) == 1
    assert "--concurrency only apply with --ray" in capsys.readouterr().err
    assert main(["embed", str(checkpoints["mlm"]), "--input", str(tmp_path / "in.txt"), "--output",
                 str(tmp_path / "out"), "--ray", "--batch-size", "8"]) == 1
    assert "--batch-size does not apply with --ray" in capsys.readouterr().err

"""A job's input cut into shards: every row once, in order, with its global index, whatever the shard size."""
import json

import pytest

pytest.importorskip("pyarrow", reason="the test extra installs pyarrow")
import pyarrow as pa
import pyarrow.parquet as pq

from fastenc.integrations.shards import ROW_COLUMN, id_column_of, input_files, plan, read


def _rows(shards, **options):
    tables = [read(s, **options) for s in shards]
    return [r for table, _ in tables for r in table.to_pylist()], [p for _, ps in tables for p in ps]


@pytest.mark.parametrize("ending", ["\n", ""])
@pytest.mark.parametrize("shard_rows", [1, 3, 100])
def test_text_lines_as_iterating_the_file_counts_them(tmp_path, ending, shard_rows):
    lines = ["first", "", "third line", "  fourth  ", "fifth\r"]  # an empty line is a text; "\r\n" ends a line
    (tmp_path / "a.txt").write_bytes(("\n".join(lines) + ending).encode())
    (tmp_path / "b.txt").write_text("b0\nb1\n")
    shards = plan(tmp_path, shard_rows=shard_rows)
    rows, problems = _rows(shards)
    assert [r["text"] for r in rows] == ["first", "", "third line", "  fourth  ", "fifth", "b0", "b1"]
    assert [r[ROW_COLUMN] for r in rows] == list(range(7)) and problems == [None] * 7
    assert [s.index for s in shards] == list(range(len(shards)))


def test_jsonl_ids_types_and_bad_lines(tmp_path):
    records = [{"id": 5, "text": "x"}, {"id": 6, "body": "no text"}, "not an object", {"id": "7", "text": "y"}]
    lines = [json.dumps(r) for r in records] + ["{broken", b"\xff\xfe".decode("latin-1")]
    (tmp_path / "in.jsonl").write_bytes("\n".join(lines[:-1]).encode() + b"\n\xff\xfe\n")
    name, id_type = id_column_of(tmp_path / "in.jsonl")
    assert (name, id_type) == ("id", pa.int64())
    rows, problems = _rows(plan(tmp_path / "in.jsonl", shard_rows=2), id_column=name, id_type=id_type)
    assert [r["id"] for r in rows] == [5, 6, None, None, None, None]
    assert [r["text"] for r in rows] == ["x", None, None, "y", None, None]
    assert problems[0] is None
    assert "line 2 of" in problems[1] and "has no field 'text'" in problems[1]
    assert "not a JSON object" in problems[2] and "is not an int" in problems[3]
    assert "not JSON" in problems[4] and "line 6 of" in problems[5] and "not UTF-8" in problems[5]


def test_parquet_row_groups_and_id_column(tmp_path):
    table = pa.table({"doc": [f"d{i}" for i in range(25)], "text": [f"t{i}" for i in range(25)], "n": range(25)})
    pq.write_table(table, tmp_path / "part-a.parquet", row_group_size=4)
    pq.write_table(table.slice(0, 3), tmp_path / "part-b.parquet")
    shards = plan(tmp_path, shard_rows=10)
    assert [s.rows for s in shards] == [12, 12, 1, 3]  # whole row groups of 4, then the second file
    assert id_column_of(tmp_path, id_column="doc") == ("doc", pa.string())
    rows, _ = _rows(shards, id_column="doc")
    assert [r["doc"] for r in rows] == [f"d{i}" for i in range(25)] + ["d0", "d1", "d2"]
    assert set(rows[0]) == {"doc", "text"}  # only the columns the job needs are read
    rows, _ = _rows(shards)
    assert [r[ROW_COLUMN] for r in rows] == list(range(28))


def test_bad_inputs_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        input_files(tmp_path / "missing")
    (tmp_path / "a.txt").write_text("x\n")
    (tmp_path / "b.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match="holds \\['parquet', 'text'\\]"):
        input_files(tmp_path)
    with pytest.raises(ValueError, match="shard_rows must be a positive int"):
        plan(tmp_path / "a.txt", shard_rows=0)
    assert plan(tmp_path / "a.txt", shard_rows=5)[0].rows == 1

"""The input of a batch job cut into numbered shards of rows (text lines, JSON lines, parquet row groups) that any
worker can read on its own, each with the global index of its first row.

Planning happens once, on the driver: parquet files give their row counts from their footers; text and JSON-lines
files are scanned once for line starts (a NumPy pass over the bytes, no decoding). A shard is then a byte range or a
set of row groups, so its rows, their global indices and its output file name are the same on every run: re-running a
shard rewrites the same rows, and a re-run job can skip shards already written.
"""
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FORMATS = ("text", "jsonl", "parquet")
EXTENSIONS = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
              ".txt": "text", ".text": "text"}
DEFAULT_SHARD_ROWS = 10_000
ROW_COLUMN = "row"  # the global row index added when the input has no id column
_SCAN_BYTES = 1 << 24


@dataclass
class Shard:
    index: int  # its number: the output file is part-<index>
    path: str
    format: str
    first_row: int  # global index of its first row (files in name order, rows in file order)
    rows: int
    file_row: int = 0  # index of its first row within its file
    byte_range: list = field(default_factory=list)  # text/jsonl: [start, end) in the file
    row_groups: list = field(default_factory=list)  # parquet

    def as_dict(self) -> dict:
        return asdict(self)


def input_files(path, fmt=None) -> tuple:
    """(files in name order, format) of a file or a folder; `fmt` None: from the file extensions."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--input {str(path)!r} does not exist")
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"input format must be one of {FORMATS}, got {fmt!r}")
    if path.is_file():
        return [path], fmt or EXTENSIONS.get(path.suffix.lower(), "text")
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_")))
    if fmt is None:
        kinds = {EXTENSIONS.get(p.suffix.lower()) for p in files} - {None}
        if len(kinds) != 1:
            raise ValueError(f"--input folder {str(path)!r} holds {sorted(kinds) or 'no'} known file kinds "
                             f"({', '.join(EXTENSIONS)}); give one kind, or name it with --input-format")
        fmt = kinds.pop()
    files = [p for p in files if EXTENSIONS.get(p.suffix.lower()) == fmt or fmt == "text" and not p.suffix]
    if not files:
        raise ValueError(f"--input folder {str(path)!r} has no {fmt} files")
    return files, fmt


def plan(path, fmt=None, shard_rows: int = DEFAULT_SHARD_ROWS) -> list:
    """Every shard of the input, in row order."""
    if isinstance(shard_rows, bool) or not isinstance(shard_rows, int) or shard_rows < 1:
        raise ValueError(f"shard_rows must be a positive int, got {shard_rows!r}")
    files, fmt = input_files(path, fmt)
    shards, first_row = [], 0
    for file in files:
        pieces = _parquet_pieces(file, shard_rows) if fmt == "parquet" else _line_pieces(file, shard_rows)
        file_row = 0
        for rows, where in pieces:
            shard = Shard(len(shards), str(file), fmt, first_row, rows, file_row)
            file_row += rows
            if fmt == "parquet":
                shard.row_groups = where
            else:
                shard.byte_range = where
            shards.append(shard)
            first_row += rows
    return shards


def _parquet_pieces(file: Path, shard_rows: int):
    """Runs of whole row groups of about shard_rows rows (a larger row group is a shard of its own)."""
    metadata = pq.ParquetFile(file).metadata
    groups, rows = [], 0
    for g in range(metadata.num_row_groups):
        groups.append(g)
        rows += metadata.row_group(g).num_rows
        if rows >= shard_rows:
            yield rows, groups
            groups, rows = [], 0
    if groups:
        yield rows, groups


def _line_pieces(file: Path, shard_rows: int):
    """(lines, [start, end)) of runs of shard_rows lines; a last line without its newline counts, and a file's final
    newline does not start an empty line (as iterating over the open file counts them)."""
    size = file.stat().st_size
    starts = [0]  # byte offsets of the first line of each shard
    lines_before, offset = 0, 0  # lines ended before `offset`
    with open(file, "rb") as f:
        while block := f.read(_SCAN_BYTES):
            ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10) + offset + 1  # byte after each "\n"
            # Lines lines_before + 1 ... end at `ends`; a shard starts after every shard_rows-th line.
            k = (lines_before + np.arange(1, len(ends) + 1)) % shard_rows == 0
            starts.extend(int(e) for e in ends[k] if e < size)
            lines_before += len(ends)
            offset += len(block)
    total = lines_before + (1 if size and offset and not _ends_with_newline(file) else 0)
    bounds = starts + [size]
    for s in range(len(starts)):
        rows = min(shard_rows, total - s * shard_rows)
        if rows > 0:
            yield rows, [bounds[s], bounds[s + 1]]


def _ends_with_newline(file: Path) -> bool:
    with open(file, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def read(shard: Shard, column: str = "text", id_column=None, id_type=None) -> tuple:
    """(table, problems): the shard's rows as columns (the id column, or `row`, then `column`), and per row a message
    when the row could not be read (not UTF-8, not a JSON object), else None. JSON-lines ids are of `id_type`
    (id_column_of's: the first line's), so every shard writes the same schema."""
    if shard.format == "parquet":
        return _read_parquet(shard, column, id_column), [None] * shard.rows
    with open(shard.path, "rb") as f:
        f.seek(shard.byte_range[0])
        data = f.read(shard.byte_range[1] - shard.byte_range[0])
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()  # the newline ends the shard's last line; it starts no new one
    if len(lines) != shard.rows:
        raise RuntimeError(f"{shard.path} changed since the job was planned: shard {shard.index} should have "
                           f"{shard.rows} lines, has {len(lines)}")
    texts, ids, problems = [], [], []
    for i, line in enumerate(lines):
        text, row_id, problem = _parse_line(line.removesuffix(b"\r"), shard.format, column, id_column)
        if id_column is not None:
            row_id, id_problem = _as_id(row_id, id_type)
            problem = problem or id_problem
        texts.append(text)
        ids.append(row_id)
        problems.append(problem and f"line {shard.file_row + i + 1} of {shard.path}: {problem}")
    if id_column is not None:
        first = pa.array(ids, type=id_type)
        first_name = id_column
    else:
        first = pa.array(range(shard.first_row, shard.first_row + shard.rows), type=pa.int64())
        first_name = ROW_COLUMN
    return pa.table({first_name: first, column: pa.array(texts, type=pa.string())}), problems


def _as_id(value, id_type):
    """(id, problem): ints stay ints under an int64 id type; under a string type any value is its JSON text."""
    if value is None:
        return None, None
    if pa.types.is_integer(id_type):
        if isinstance(value, int) and not isinstance(value, bool):
            return value, None
        return None, f"id {value!r} is not an int, as the first line's id is"
    return value if isinstance(value, str) else json.dumps(value), None


def _parse_line(line: bytes, fmt: str, column: str, id_column):
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, None, f"not UTF-8 ({e.reason} at byte {e.start})"
    if fmt == "text":
        return text, None, None
    try:
        record = json.loads(text)
    except ValueError as e:
        return None, None, f"not JSON ({e})"
    if not isinstance(record, dict):
        return None, None, f"not a JSON object (a {type(record).__name__})"
    row_id = record.get(id_column) if id_column else None
    if column not in record:
        return None, row_id, f"has no field {column!r}"
    value = record[column]
    if value is not None and not isinstance(value, str):
        return None, row_id, f"{column} must be a str, not {type(value).__name__}"
    return value, row_id, None


def _read_parquet(shard: Shard, column: str, id_column) -> pa.Table:
    file = pq.ParquetFile(shard.path)
    names = [id_column, column] if id_column else [column]
    table = file.read_row_groups(shard.row_groups, columns=names)
    if id_column is None:
        rows = pa.array(range(shard.first_row, shard.first_row + shard.rows), type=pa.int64())
        table = table.add_column(0, ROW_COLUMN, rows)
    return table


def id_column_of(path, fmt=None, id_column: str = "id") -> tuple:
    """(id_column, its Arrow type) when the input has it (a parquet schema's field, a key of the first JSON line),
    else (None, None)."""
    files, fmt = input_files(path, fmt)
    if fmt == "text":
        return None, None
    if fmt == "parquet":
        schema = pq.read_schema(files[0])
        return (id_column, schema.field(id_column).type) if id_column in schema.names else (None, None)
    with open(files[0], "rb") as f:
        try:
            first = json.loads(f.readline() or b"{}")
        except ValueError:
            return None, None
    if not isinstance(first, dict) or id_column not in first:
        return None, None
    value = first[id_column]
    return id_column, pa.int64() if isinstance(value, int) and not isinstance(value, bool) else pa.string()

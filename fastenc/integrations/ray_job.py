"""The `fastenc embed --ray` job: the input's shards (fastenc.integrations.shards) embedded by a pool of Ray actors,
each shard written to its own parquet file (`part-<shard>.parquet`) through a temporary file and an atomic rename.

So a shard that Ray re-runs (its actor died) rewrites the same file with the same rows, and a job run again on the
same output folder skips the shards already written: the folder holds every input row exactly once. A manifest in the
folder records what the job was, so a re-run with another model or input cannot mix its rows in.
"""
import json
import os
import sys
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .ray_data import model_reference, ray, threads_from_ray
from .shards import DEFAULT_SHARD_ROWS, Shard, id_column_of, plan, read
from .table_task import TableTask

MANIFEST = "_fastenc_job.json"


def part_name(index: int) -> str:
    return f"part-{index:06d}.parquet"


def write_atomic(table: pa.Table, folder: Path, name: str) -> None:
    """Readers see the whole file or none: written under a hidden temporary name, then renamed (atomic on POSIX)."""
    temporary = folder / f".{name}.{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, folder / name)
    finally:
        temporary.unlink(missing_ok=True)


class ShardWriter:
    """The callable class of the job's `map_batches`: per shard, read it, run the task, write its part file."""

    def __init__(self, model, output: str, task: str, table_options: dict, read_options: dict, load_kwargs: dict):
        import fastenc

        threads_from_ray()
        self.task = TableTask(fastenc.load(model, **load_kwargs), task, **table_options)
        self.output, self.read_options = Path(output), read_options

    def __call__(self, batch: pa.Table) -> pa.Table:
        done = []
        for description in batch.column("shard").to_pylist():
            shard = Shard(**json.loads(description))
            table, problems = read(shard, **self.read_options)
            result = self.task(table, problems).drop_columns([self.read_options["column"]])
            write_atomic(result, self.output, part_name(shard.index))
            column = self.task.error_column
            failed = result.num_rows - result.column(column).null_count if column else 0
            done.append({"shard": shard.index, "rows": result.num_rows, "errors": failed})
        return pa.Table.from_pylist(done)


def run(model, input_path, output, *, address=None, input_format=None, column="text", id_column="id",
        shard_rows=DEFAULT_SHARD_ROWS, concurrency=1, num_gpus=0, num_cpus=None, max_batch_tokens=None,
        pooling=None, normalize=False, errors="value", progress=True, **load_kwargs) -> dict:
    """Embeds `input_path` into the parquet folder `output`; returns {"shards", "written", "skipped", "rows",
    "errors"} (errors: rows written with an error value instead of an embedding, in this run)."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int (actors), got {concurrency!r}")
    model = model_reference(model)
    input_path, output = Path(input_path).resolve(), Path(output).resolve()
    shards = plan(input_path, input_format, shard_rows)
    id_name, id_type = id_column_of(input_path, input_format, id_column)
    output.mkdir(parents=True, exist_ok=True)
    _check_manifest(output, {
        "task": "embed", "model": model, "input": str(input_path), "format": shards[0].format if shards else None,
        "column": column, "id_column": id_name, "shard_rows": shard_rows, "shards": len(shards),
        "rows": sum(s.rows for s in shards), "pooling": pooling, "normalize": normalize,
        "max_batch_tokens": max_batch_tokens, "load": {k: str(v) for k, v in sorted(load_kwargs.items())},
    })
    todo = [s for s in shards if not (output / part_name(s.index)).exists()]
    summary = {"shards": len(shards), "written": len(todo), "skipped": len(shards) - len(todo),
               "rows": sum(s.rows for s in shards), "errors": 0}
    if not todo:
        return summary
    if not ray.is_initialized():
        ray.init(address=address or None, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours counts rows of the whole job, skipped shards included
    table_options = dict(column=column, output_column="embedding", errors=errors, max_batch_tokens=max_batch_tokens,
                         options=dict(pooling=pooling, normalize=normalize))
    read_options = dict(column=column, id_column=id_name, id_type=id_type)
    resources = {"num_gpus": num_gpus} if num_gpus else {}
    if num_cpus is not None:
        resources["num_cpus"] = num_cpus
    ds = ray.data.from_items([{"shard": json.dumps(s.as_dict())} for s in todo], override_num_blocks=len(todo))
    ds = ds.map_batches(ShardWriter, batch_size=1, batch_format="pyarrow",
                        compute=ray.data.ActorPoolStrategy(size=min(concurrency, len(todo))),
                        fn_constructor_kwargs=dict(model=model, output=str(output), task="embed",
                                                   table_options=table_options, read_options=read_options,
                                                   load_kwargs=load_kwargs), **resources)
    bar = _bar(progress, summary["rows"], summary["rows"] - sum(s.rows for s in todo))
    for done in ds.iter_rows():
        summary["errors"] += done["errors"]
        if bar is not None:
            bar.update(done["rows"])
    if bar is not None:
        bar.close()
    return summary


def _bar(progress: bool, total: int, initial: int):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="embed", unit=" texts", file=sys.stderr, dynamic_ncols=True)


def _check_manifest(output: Path, manifest: dict) -> None:
    path = output / MANIFEST
    if path.exists():
        before = json.loads(path.read_text())
        changed = sorted(k for k in manifest.keys() | before.keys() if before.get(k) != manifest.get(k))
        if changed:
            raise ValueError(f"--output {str(output)!r} holds another job's results (it differs in {changed}); "
                             "choose another --output, or delete the folder to start over")
        return
    if any(output.glob("part-*.parquet")):
        raise ValueError(f"--output {str(output)!r} already holds part files but no {MANIFEST}; choose another "
                         "--output")
    path.write_text(json.dumps(manifest, indent=1))

"""One engine task (embed, classify, tag, fill_mask) over a text column of an Arrow table: the result column appended,
the other columns untouched, and a row that cannot be processed an error value instead of a failed job.

This is the unit of work of every batch integration (a Ray Data block, a shard of the `fastenc embed --ray` job): the
rows go to the engine's task call in one piece, so its runner sorts them by length, packs token-budget batches and
restores their order. Output columns have a fixed Arrow type per task and model, so blocks that are all errors still
concatenate and write with the same schema as the others.
"""
import numpy as np
import pyarrow as pa

from ..models.registry import has_labels, label_names

TASKS = ("embed", "classify", "tag", "fill_mask")
ERRORS = ("value", "raise")
DEFAULT_OUTPUT = {"embed": "embedding", "classify": "classification", "tag": "entities", "fill_mask": "predictions"}
ERROR_SUFFIX = "_error"  # errors="value": the error column beside the output, null on rows that worked

_ENTITY = pa.struct([("entity_group", pa.string()), ("score", pa.float64()), ("word", pa.string()),
                     ("start", pa.int64()), ("end", pa.int64())])
_PREDICTION = pa.struct([("score", pa.float64()), ("token", pa.int64()), ("token_str", pa.string()),
                         ("sequence", pa.string())])


class TableTask:
    """`task(table) -> table` with `output_column` (and, with errors="value", `output_column + "_error"`) appended.

    options: the task call's own keywords (embed: pooling, normalize; fill_mask: top_k); a None pooling is left out,
    so the engine's default pooling applies. pair_column (classify only): second texts of sentence pairs.
    """

    def __init__(self, engine, task: str, column: str = "text", output_column=None, errors: str = "value",
                 max_batch_tokens=None, pair_column=None, options=None):
        check_choices(task, errors)
        if pair_column is not None and task != "classify":
            raise ValueError(f"pair_column is for classify only, not {task}")
        self.engine, self.task, self.column, self.pair_column = engine, task, column, pair_column
        self.output_column = output_column or DEFAULT_OUTPUT[task]
        self.error_column = self.output_column + ERROR_SUFFIX if errors == "value" else None
        self.errors = errors
        self.options = {k: v for k, v in (options or {}).items() if v is not None}
        if max_batch_tokens is not None:
            self.options["max_batch_tokens"] = max_batch_tokens
        self.type = self._output_type()

    def __call__(self, table: pa.Table, problems=None) -> pa.Table:
        """`problems`: per row, a message when the row could not even be read (the reader knows why), else None."""
        self._check_columns(table)
        texts = table.column(self.column).to_pylist()
        pairs = table.column(self.pair_column).to_pylist() if self.pair_column else None
        results, errors = [None] * len(texts), [None] * len(texts)
        good = []
        for i in range(len(texts)):
            problem = (problems[i] if problems else None) or _row_problem(self.column, texts[i]) or (
                pairs is not None and _row_problem(self.pair_column, pairs[i]))
            if problem and self.errors == "raise":
                raise TypeError(f"row {i} of the batch: {problem}")
            if problem:
                errors[i] = problem
            else:
                good.append(i)
        self._run_rows(good, texts, pairs, results, errors)
        out = table.append_column(self.output_column, self._to_arrow(results))
        if self.error_column:
            out = out.append_column(self.error_column, pa.array(errors, type=pa.string()))
        return out

    def _check_columns(self, table: pa.Table) -> None:
        names = table.column_names
        for argument, name in (("column", self.column), ("pair_column", self.pair_column)):
            if name is not None and name not in names:
                raise KeyError(f"{argument} {name!r} is not a column of the dataset; its columns are {names}")
        for name in filter(None, (self.output_column, self.error_column)):
            if name in names:
                raise ValueError(f"output column {name!r} already exists in the dataset (columns {names}); choose "
                                 "another output_column")

    def _run_rows(self, rows: list, texts: list, pairs, results: list, errors: list) -> None:
        """Results of the task for `rows`, in one engine call; when that call fails and errors="value", the rows are
        halved until the failing ones stand alone, so one bad text costs O(log n) extra calls, not the block."""
        if not rows:
            return
        try:
            values = self._call([texts[i] for i in rows], None if pairs is None else [pairs[i] for i in rows])
        except Exception as error:  # noqa: BLE001 - the error becomes the row's value, or is raised as it is
            if self.errors == "raise":
                raise
            if len(rows) == 1:
                errors[rows[0]] = f"{type(error).__name__}: {error}"
                return
            half = len(rows) // 2
            self._run_rows(rows[:half], texts, pairs, results, errors)
            self._run_rows(rows[half:], texts, pairs, results, errors)
            return
        for i, value in zip(rows, values, strict=True):
            results[i] = value

    def _call(self, texts: list, pairs):
        if self.task == "embed":
            return self.engine.embed(texts, progress=False, **self.options).numpy()  # (n, H)
        if self.task == "classify":
            return self.engine.classify(texts, text_pairs=pairs, **self.options)
        if self.task == "tag":
            return self.engine.tag(texts, **self.options)
        # One list of predictions per mask, always: the engine gives the bare list for a text with a single mask,
        # which would make the column's type depend on the row.
        return [r if r and isinstance(r[0], list) else [r] for r in self.engine.fill_mask(texts, **self.options)]

    def _output_type(self) -> pa.DataType:
        if self.task == "embed":
            # The width of this model's vectors, whatever its pooling: from one tiny call (a block of only bad rows
            # must still have it).
            width = self.engine.embed([""], progress=False, **self.options).shape[-1]
            return pa.list_(pa.float32(), width)
        if self.task == "classify":
            labels = label_names(self.engine.config) if has_labels(self.engine.config) else []
            scores = pa.struct([(label, pa.float64()) for label in labels])
            return pa.struct([("label", pa.string()), ("score", pa.float64()), ("scores", scores)])
        return pa.list_(_ENTITY) if self.task == "tag" else pa.list_(pa.list_(_PREDICTION))

    def _to_arrow(self, results: list) -> pa.Array:
        if self.task != "embed":
            return pa.array(results, type=self.type)
        width = self.type.list_size
        values = np.zeros((len(results), width), dtype=np.float32)  # (N, H): zeros under the nulls
        missing = np.array([r is None for r in results], dtype=bool)
        for i in np.flatnonzero(~missing).tolist():
            values[i] = results[i]
        return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), width,
                                                 mask=pa.array(missing) if missing.any() else None)


def check_choices(task: str, errors: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if errors not in ERRORS:
        raise ValueError(f"errors must be one of {ERRORS}, got {errors!r}")


def _row_problem(column: str, value):
    if value is None:
        return f"{column} is null"
    if not isinstance(value, str):
        return f"{column} must be a str, not {type(value).__name__}"
    return None

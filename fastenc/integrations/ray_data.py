"""fastenc on Ray Data (`import fastenc.ray`): embed, classify, tag or fill-mask a text column of a `ray.data.Dataset`
with a pool of actors, each loading the model once.

Each actor receives Arrow batches of `batch_size` rows and runs them through the engine's task call (the runner sorts
them by length, packs batches of at most `max_batch_tokens` real tokens, restores their order): see
fastenc.integrations.table_task for the columns added and the per-row error values.

Faults: Ray Data's actor pools restart a dead actor (its process killed, its node lost) and re-run the batches it held
(`max_restarts=-1`, `max_task_retries=-1`: Ray Data's defaults for actor pools in Ray 2.60, set in
ActorPoolMapOperator._apply_default_remote_args; nothing is passed here because map_batches' remote-args keywords are
deprecated there. tests/integrations/test_ray_data.py kills an actor mid-job to hold a later Ray to it). A Python
exception in the model is not retried by Ray: it is the row's error value, or with errors="raise" fails the job.

GPUs: `num_gpus=1` gives each actor one GPU (Ray sets CUDA_VISIBLE_DEVICES, so the engine loads on "cuda"), and the
token budget is then the engine's GPU default (fastenc.tasks.batching.DEFAULT_MAX_BATCH_TOKENS, 16,384 real tokens)
unless `max_batch_tokens` says otherwise; on CPUs it is the CPU default (2,048). Torch's threads per actor follow the
CPUs Ray assigned to it (`num_cpus`, default 1), so actors sharing a machine do not oversubscribe its cores.
"""
from pathlib import Path

try:
    import ray
    import ray.data
except ImportError as error:  # pragma: no cover - the message is the point
    raise ImportError("fastenc.ray needs Ray Data: pip install 'fastenc[ray]'") from error

from .table_task import TableTask, check_choices

DEFAULT_BATCH_ROWS = 1024  # rows per actor call: the window the runner sorts by length; Ray needs one with GPUs


class TaskActor:
    """The callable class of `map_batches`: loads the model once per actor, then `table -> table` per batch."""

    def __init__(self, model, task: str, table_options: dict, load_kwargs: dict):
        import fastenc

        threads_from_ray()
        engine = fastenc.load(model, **load_kwargs)
        self.task = TableTask(engine, task, **table_options)

    def __call__(self, batch):
        return self.task(batch)


def threads_from_ray() -> None:
    """Torch's intra-op threads = the CPUs Ray reserved for this actor (at least one)."""
    import torch

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
    if cpus:
        torch.set_num_threads(max(1, int(cpus)))


def model_reference(model) -> str:
    """A local folder as an absolute path (actors do not run in the caller's working folder), a Hub id as it is."""
    return str(Path(model).resolve()) if Path(model).exists() else str(model)


def map_task(ds, model, task: str, *, column="text", output_column=None, errors="value", concurrency=1, num_gpus=0,
             num_cpus=None, batch_size=None, max_batch_tokens=None, pair_column=None, options=None,
             **load_kwargs):
    """The lazy `ds.map_batches(TaskActor, ...)` behind embed/classify/tag/fill_mask."""
    check_choices(task, errors)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a positive int (actors), got {concurrency!r}")
    if not isinstance(ds, ray.data.Dataset):
        raise TypeError(f"ds must be a ray.data.Dataset, not {type(ds).__name__}")
    table_options = dict(column=column, output_column=output_column, errors=errors,
                         max_batch_tokens=max_batch_tokens, pair_column=pair_column, options=options)
    resources = {"num_gpus": num_gpus} if num_gpus else {}
    if num_cpus is not None:
        resources["num_cpus"] = num_cpus
    return ds.map_batches(
        TaskActor,
        fn_constructor_kwargs=dict(model=model_reference(model), task=task, table_options=table_options,
                                   load_kwargs=load_kwargs),
        batch_format="pyarrow",
        batch_size=batch_size or DEFAULT_BATCH_ROWS,
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        udf_modifying_row_count=False,
        **resources,
    )


def embed(ds, model, *, column="text", output_column="embedding", pooling=None, normalize=False, concurrency=1,
          num_gpus=0, num_cpus=None, batch_size=None, max_batch_tokens=None, errors="value", **load_kwargs):
    """`ds` with `output_column` (fixed-size list of float32, the engine's embed) and `output_column + "_error"`.

    pooling None: the engine's default. load_kwargs go to fastenc.load in each actor (device, dtype, ...)."""
    return map_task(ds, model, "embed", column=column, output_column=output_column, errors=errors,
                    concurrency=concurrency, num_gpus=num_gpus, num_cpus=num_cpus, batch_size=batch_size,
                    max_batch_tokens=max_batch_tokens, options=dict(pooling=pooling, normalize=normalize),
                    **load_kwargs)


def classify(ds, model, *, column="text", output_column="classification", pair_column=None, concurrency=1,
             num_gpus=0, num_cpus=None, batch_size=None, max_batch_tokens=None, errors="value", **load_kwargs):
    """`ds` with `output_column`: the engine's classify record {label, score, scores: {label: score}} per row;
    pair_column names the second texts of sentence-pair checkpoints."""
    return map_task(ds, model, "classify", column=column, output_column=output_column, errors=errors,
                    concurrency=concurrency, num_gpus=num_gpus, num_cpus=num_cpus, batch_size=batch_size,
                    max_batch_tokens=max_batch_tokens, pair_column=pair_column, **load_kwargs)


def tag(ds, model, *, column="text", output_column="entities", concurrency=1, num_gpus=0, num_cpus=None,
        batch_size=None, max_batch_tokens=None, errors="value", **load_kwargs):
    """`ds` with `output_column`: the engine's tag entity groups (a list of records) per row."""
    return map_task(ds, model, "tag", column=column, output_column=output_column, errors=errors,
                    concurrency=concurrency, num_gpus=num_gpus, num_cpus=num_cpus, batch_size=batch_size,
                    max_batch_tokens=max_batch_tokens, **load_kwargs)


def fill_mask(ds, model, *, column="text", output_column="predictions", top_k=5, concurrency=1, num_gpus=0,
              num_cpus=None, batch_size=None, max_batch_tokens=None, errors="value", **load_kwargs):
    """`ds` with `output_column`: per row, one list of top_k predictions for each mask token of the text (the
    engine's fill_mask records; a text with one mask gets a list of one list)."""
    return map_task(ds, model, "fill_mask", column=column, output_column=output_column, errors=errors,
                    concurrency=concurrency, num_gpus=num_gpus, num_cpus=num_cpus, batch_size=batch_size,
                    max_batch_tokens=max_batch_tokens, options=dict(top_k=top_k), **load_kwargs)

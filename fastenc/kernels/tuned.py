"""Autotuning winners committed per GPU (`fastenc/kernels/tuned_tables/<gpu>.json`): a new process compiles the known
best configuration of a kernel for a key instead of compiling and timing every candidate.

A kernel opts in by stacking `@from_table` on its `@triton.autotune(...)`:

    @from_table
    @triton.autotune(configs=_configs(), key=[...], prune_configs_by={"early_config_prune": _prune})
    @triton.jit
    def _my_kernel(...): ...

Its own `early_config_prune` (the safety pruning: shared memory, tile sizes) still runs first; when the table holds
this kernel's key and the winner survives that pruning, only the winner is left to Triton, otherwise the full list
is searched as before. A table applies only on the GPU it names and with the Triton version it names: another Triton
may compile the same configuration differently, or build its keys differently.

FASTENC_TUNED_TABLE: unset or "1", the committed table of this GPU; "0", none (every new key searches: for re-tuning
runs); anything else, the path of a table file to use instead. A table that cannot be read is ignored with a warning
naming the file: a broken table costs a search, never a forward.

FASTENC_AUTOTUNE: "0" searches nothing: each new key takes one of the configurations its kernel's own pruning keeps,
picked by the key, so a test suite that meets many keys compiles one configuration per key and still runs most of
the tiles (correctness checks on a GPU, where tuning every key would take most of their time). Unset, or anything
else: the table, else the search.

`write_table` dumps every opted-in kernel's in-process results (Triton's `Autotuner.cache`, key -> best Config) in
the same format, which is how a table is made: run the model on the GPU with the table off, then write.
"""
import functools
import json
import logging
import os
import re
import threading
import warnings
import zlib
from pathlib import Path

import triton
from triton.runtime.autotuner import Autotuner

FORMAT = 1
ENV = "FASTENC_TUNED_TABLE"
NO_SEARCH_ENV = "FASTENC_AUTOTUNE"
TABLE_DIR = Path(__file__).with_name("tuned_tables")
_CONFIG_FIELDS = (("num_warps", 4), ("num_stages", 3), ("num_ctas", 1), ("maxnreg", None))  # Config's defaults

log = logging.getLogger(__name__)

# kernel name -> its Autotuner, for every kernel that opted in (filled at import of the kernel modules).
REGISTRY: dict = {}
# How new keys were served in this process: the table's winner alone, or a search over several configs.
LOOKUPS = {"from_table": 0, "searched": 0}


class TableError(ValueError):
    """A table file that is not a table: its message starts with the file."""


def file_name(gpu: str) -> str:
    """File-safe name of a GPU: "NVIDIA H100 80GB HBM3" -> "nvidia-h100-80gb-hbm3"."""
    return re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-") or "unnamed-gpu"


def current_gpu():
    """The name CUDA gives the current device, or None without CUDA (the interpreter never autotunes)."""
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def kernel_name(autotuner: Autotuner) -> str:
    fn = autotuner.base_fn
    return f"{fn.__module__}.{fn.__name__}"


def _scalar(value):
    """A key entry as JSON holds it: a JSON scalar as is, anything else by its str (as Triton writes dtypes)."""
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def autotune_key(autotuner: Autotuner, named_args: dict, kwargs: dict) -> tuple:
    """The key Triton's Autotuner.run files this call under (Triton 3.6): the `key=` arguments' values, then the dtype
    of every argument that has one, in argument order. A Triton that builds it differently has a different version,
    so its tables never reach this function."""
    args = {k: v for k, v in {**named_args, **kwargs}.items() if k in autotuner.arg_names}
    key = [args[k] for k in autotuner.keys if k in args]
    key += [str(v.dtype) for v in args.values() if hasattr(v, "dtype")]
    return tuple(_scalar(v) for v in key)


def config_to_json(config: triton.Config) -> dict:
    return {"kwargs": dict(config.kwargs), **{f: getattr(config, f, default) for f, default in _CONFIG_FIELDS}}


def same_config(config: triton.Config, entry: dict) -> bool:
    return dict(config.kwargs) == entry["kwargs"] and all(
        getattr(config, f, default) == entry.get(f, default) for f, default in _CONFIG_FIELDS)


class Table:
    """One GPU's winners: kernel name -> {key tuple: config as JSON}."""

    def __init__(self, gpu: str, triton_version: str, winners: dict, source: str):
        self.gpu, self.triton, self.winners, self.source = gpu, triton_version, winners, source

    def lookup(self, kernel: str, key: tuple):
        return self.winners.get(kernel, {}).get(key)

    def __len__(self):
        return sum(len(w) for w in self.winners.values())


def parse_table(document, source: str) -> Table:
    """A Table from the JSON document `write_table` writes; TableError naming `source` for anything else."""

    def fail(why):
        raise TableError(f"{source}: {why}")

    if not isinstance(document, dict) or document.get("format") != FORMAT:
        fail(f"not a format-{FORMAT} autotuning table (no \"format\": {FORMAT})")
    if not isinstance(document.get("triton"), str):
        fail(f"\"triton\" must be a string, got {document.get('triton')!r}")
    if not isinstance(document.get("gpu"), (str, type(None))):  # null: dumped without a GPU, so it applies nowhere
        fail(f"\"gpu\" must be a string, got {document.get('gpu')!r}")
    kernels = document.get("kernels")
    if not isinstance(kernels, dict):
        fail("\"kernels\" must be an object of kernel name -> list of {key, config}")
    winners = {}
    for kernel, entries in kernels.items():
        if not isinstance(entries, list):
            fail(f"kernel {kernel}: expected a list of {{key, config}}")
        winners[kernel] = {}
        for i, entry in enumerate(entries):
            key, config = (entry.get("key"), entry.get("config")) if isinstance(entry, dict) else (None, None)
            if not isinstance(key, list) or any(isinstance(v, (list, dict)) for v in key):
                fail(f"kernel {kernel} entry {i}: \"key\" must be a list of scalars, got {key!r}")
            if (not isinstance(config, dict) or not isinstance(config.get("kwargs"), dict)
                    or not all(isinstance(config.get(f), int) for f in ("num_warps", "num_stages"))):
                fail(f"kernel {kernel} entry {i}: \"config\" needs \"kwargs\", \"num_warps\" and \"num_stages\", "
                     f"got {config!r}")
            winners[kernel][tuple(key)] = config
    return Table(document["gpu"], document["triton"], winners, source)


def read_table(path) -> Table:
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except ValueError as e:
        raise TableError(f"{path}: not JSON ({e})") from None
    return parse_table(document, str(path))


@functools.lru_cache(maxsize=None)
def _table_for(setting: str, gpu: str, triton_version: str):
    """The table `setting` (FASTENC_TUNED_TABLE) selects for this GPU and Triton, or None; read once per process."""
    explicit = setting not in ("", "1")
    path = Path(setting) if explicit else TABLE_DIR / f"{file_name(gpu)}.json"
    if not explicit and not path.is_file():
        return None  # no table committed for this GPU yet
    try:
        table = read_table(path)
    except (OSError, TableError) as e:
        warnings.warn(f"fastenc: ignoring the autotuning table: {e}; kernels search their configurations",
                      stacklevel=2)
        return None
    if (table.gpu, table.triton) != (gpu, triton_version):
        why = (f"fastenc: the autotuning table {path} is for {table.gpu} with Triton {table.triton}, not {gpu} "
               f"with Triton {triton_version}; kernels search their configurations")
        if explicit:  # asked for by name: say why it is not used
            warnings.warn(why, stacklevel=2)
        else:
            log.info(why)
        return None
    return table


def active_table():
    """The table this process uses now, or None (no GPU, switched off, none committed, or not for this GPU/Triton)."""
    setting = os.environ.get(ENV, "").strip()
    if setting == "0":
        return None
    gpu = current_gpu()
    return _table_for(setting, gpu, triton.__version__) if gpu else None


def reload() -> None:
    """Forget the tables read so far (after writing one in this process, or in tests)."""
    _table_for.cache_clear()


def from_table(autotuner: Autotuner) -> Autotuner:
    """Decorator above `@triton.autotune`: prune each new key to the table's winner, and register the kernel with
    `write_table`. The kernel's own early_config_prune runs first, so the table can only pick among configurations
    the kernel accepts for these arguments."""
    if not isinstance(autotuner, Autotuner):
        raise TypeError(f"@from_table goes directly above @triton.autotune, got {type(autotuner).__name__}")
    name = kernel_name(autotuner)
    own_prune = autotuner.early_config_prune
    pruned = threading.local()  # how many configurations the last prune on this thread left

    def choose(configs, named_args, **kwargs):
        kept = own_prune(configs, named_args, **kwargs) if own_prune else list(configs)
        key = autotune_key(autotuner, named_args, kwargs)
        if os.environ.get(NO_SEARCH_ENV, "").strip() == "0" and len(kept) > 1:
            return [kept[zlib.crc32(repr(key).encode()) % len(kept)]]
        table = active_table()
        entry = table.lookup(name, key) if table else None
        winner = [c for c in kept if same_config(c, entry)][:1] if entry else []
        if winner:
            LOOKUPS["from_table"] += 1
            return winner
        if entry:
            log.info("%s: the table's winner %s is not among this kernel's configurations any more", name, entry)
        LOOKUPS["searched"] += len(kept) > 1
        return kept

    def prune(configs, named_args, **kwargs):
        chosen = choose(configs, named_args, **kwargs)
        pruned.count = len(chosen)
        return chosen

    # Triton 3.6 times the configurations left after pruning even when only one is (do_bench's warm-up and
    # repetitions, ~0.1 s a key): nothing is compared then, so the timing is skipped. Autotuner.run calls _bench
    # right after prune_configs, on the same thread.
    bench = getattr(autotuner, "_bench", None)
    if bench is not None:
        def bench_unless_alone(*args, config, **meta):
            if getattr(pruned, "count", 0) == 1:
                return [0.0, 0.0, 0.0]  # do_bench's (median, 20th, 80th percentile): one config, no ranking
            return bench(*args, config=config, **meta)

        autotuner._bench = bench_unless_alone
    autotuner.early_config_prune = prune
    REGISTRY[name] = autotuner
    return autotuner


def winners(autotuners: dict = None) -> dict:
    """This process's autotuning results as a table document: each registered kernel's cache, key -> best config."""
    import torch

    kernels = {}
    for name, autotuner in sorted((REGISTRY if autotuners is None else autotuners).items()):
        entries = [{"key": [_scalar(v) for v in key], "config": config_to_json(config)}
                   for key, config in autotuner.cache.items() if config.pre_hook is None]
        if entries:
            kernels[name] = sorted(entries, key=lambda e: json.dumps(e["key"]))
    return {"format": FORMAT, "gpu": current_gpu(), "triton": triton.__version__, "torch": torch.__version__,
            "kernels": kernels}


def write_table(path, autotuners: dict = None) -> Path:
    """Writes `winners()` to `path`: a .json file, or a folder that receives <gpu>.json. Returns the file."""
    document = winners(autotuners)
    path = Path(path)
    if path.suffix != ".json":
        path = path / f"{file_name(document['gpu'] or 'no-gpu')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n")
    return path


def merge(documents: list) -> tuple:
    """(one table document, notes) from several of the same GPU and Triton as the first; on a key two documents both
    hold, the earlier one wins. Documents for another GPU or Triton are left out, with a note each."""
    first = documents[0]
    merged = {**first, "kernels": {}}
    notes, seen = [], {}
    for doc in documents:
        if (doc.get("gpu"), doc.get("triton")) != (first.get("gpu"), first.get("triton")):
            notes.append(f"left out a table for {doc.get('gpu')} / Triton {doc.get('triton')}")
            continue
        for kernel, entries in doc.get("kernels", {}).items():
            for entry in entries:
                key = json.dumps(entry["key"])
                if key not in seen.setdefault(kernel, {}):
                    seen[kernel][key] = entry
                elif seen[kernel][key]["config"] != entry["config"]:
                    notes.append(f"{kernel} {entry['key']}: kept {seen[kernel][key]['config']}, "
                                 f"not {entry['config']}")
    for kernel in sorted(seen):
        merged["kernels"][kernel] = [seen[kernel][k] for k in sorted(seen[kernel])]
    return merged, notes

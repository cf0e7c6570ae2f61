"""Writes a Triton model repository serving a fastenc model: <out>/<name>/config.pbtxt and <out>/<name>/1/model.py."""
import json
import shutil
from pathlib import Path
from string import Template

HERE = Path(__file__).resolve().parent
OUTPUTS = {"embed": "EMBEDDING", "classify": "SCORES"}


def write_repository(model, out_dir, *, name="fastenc", task="embed", pooling=None, normalize=False,
                     max_batch_size=64, max_queue_delay_us=2000, instances=1, kind=None, device=None,
                     dtype=None) -> Path:
    """The model's folder in the repository `out_dir`. `model` is what the server's fastenc.load gets: a local
    folder (made absolute) or a Hub id."""
    if task not in OUTPUTS:
        raise ValueError(f"task must be one of {sorted(OUTPUTS)}, got {task!r}")
    for argument, value in (("max_batch_size", max_batch_size), ("instances", instances),
                            ("max_queue_delay_us", max_queue_delay_us)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if argument.startswith("max_q") else 1):
            raise ValueError(f"{argument} must be a positive int, got {value!r}")
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"name must be a plain folder name, got {name!r}")
    model = str(Path(model).resolve()) if Path(model).exists() else str(model)
    kind = kind or ("KIND_GPU" if str(device or "").startswith("cuda") else "KIND_CPU")
    parameters = {"model": model, "task": task, "pooling": pooling, "normalize": json.dumps(bool(normalize)),
                  "device": device, "dtype": dtype}
    folder = Path(out_dir) / name
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "1").mkdir(parents=True)
    text = Template((HERE / "config.pbtxt").read_text()).substitute(
        name=name, max_batch_size=max_batch_size, output=OUTPUTS[task], max_queue_delay_us=max_queue_delay_us,
        instances=instances, kind=kind,
        parameters="\n".join(_parameter(k, v) for k, v in parameters.items() if v is not None))
    (folder / "config.pbtxt").write_text(text)
    shutil.copy(HERE / "model.py", folder / "1" / "model.py")
    return folder


def _parameter(key: str, value: str) -> str:
    return f"parameters: {{\n  key: {json.dumps(key)}\n  value: {{ string_value: {json.dumps(str(value))} }}\n}}"

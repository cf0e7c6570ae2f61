"""What a checkpoint's sentence-transformers files say about embeddings: pooling, normalisation and prompts.

sentence-transformers saves its pipeline beside the weights: `modules.json` lists the modules in order (Transformer,
Pooling, Normalize, ...), the Pooling module's folder (usually `1_Pooling/config.json`) names the pooling mode, and
`config_sentence_transformers.json` may hold named prompts. `Engine.embed` and `fastenc serve` both read them here,
so a library user and a server user get the same vectors; a folder without them gets TEI's default (CLS, no
normalisation in the library; the server's /embed normalises by default as TEI's does).
"""
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULT_POOLING = "cls"  # TEI's choice when a checkpoint names none
POOLING_MODULE = "sentence_transformers.models.Pooling"
NORMALIZE_MODULE = "sentence_transformers.models.Normalize"
TRANSFORMER_MODULES = ("sentence_transformers.models.Transformer", "sentence_transformers.models.models.Transformer")
# Pooling config keys -> our pooling names. Other modes (weighted mean, last token, sqrt-length mean) are refused.
MODES = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean", "pooling_mode_max_tokens": "max"}
UNSUPPORTED_MODES = ("pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")
MAX_FILE_BYTES = 1 << 20  # these files are a few hundred bytes; a larger one is not a sentence-transformers config


@dataclass(frozen=True)
class PoolingConfig:
    pooling: str  # "cls" | "mean" | "max"
    normalize: bool  # a Normalize module follows the pooling
    source: str  # the file the pooling came from, or "default"
    prompts: dict = field(default_factory=dict)  # prompt name -> text put before the input


def _read_json(path: Path, what: str):
    if not path.is_file():
        return None
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"{path} is {path.stat().st_size} bytes: too large for a sentence-transformers {what}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({what}): {e}") from e


def _mode(config: dict, path: Path) -> str:
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(config).__name__}")
    if config.get("pooling_mode") in ("cls", "mean", "max"):  # some writers name the mode instead of flags
        return config["pooling_mode"]
    chosen = [name for key, name in MODES.items() if config.get(key)]
    odd = [key for key in UNSUPPORTED_MODES if config.get(key)]
    if odd or len(chosen) != 1:
        raise ValueError(f"{path} asks for pooling {sorted(chosen + odd)}; fastenc pools with exactly one of "
                         f"{sorted(set(MODES.values()))}: pass pooling= explicitly")
    return chosen[0]


def read_pooling_config(folder) -> PoolingConfig:
    """The checkpoint's pooling per its sentence-transformers files, or TEI's default when it has none."""
    if folder is None:
        return PoolingConfig(DEFAULT_POOLING, False, "default")
    folder = Path(folder)
    st_config = _read_json(folder / "config_sentence_transformers.json", "config") or {}
    prompts = st_config.get("prompts") if isinstance(st_config, dict) else None
    prompts = {str(k): str(v) for k, v in prompts.items()} if isinstance(prompts, dict) else {}
    modules = _read_json(folder / "modules.json", "module list")
    pooling_path = None
    normalize = False
    if isinstance(modules, list):
        for module in modules:
            kind = module.get("type", "") if isinstance(module, dict) else ""
            if kind == POOLING_MODULE:
                pooling_path = folder / str(module.get("path", "1_Pooling")) / "config.json"
            elif kind == NORMALIZE_MODULE:
                normalize = True
            elif kind and kind not in TRANSFORMER_MODULES and pooling_path is not None:
                log.warning("%s: module %s after the pooling is not applied by fastenc", folder / "modules.json", kind)
    elif (folder / "1_Pooling" / "config.json").is_file():  # a Pooling folder without modules.json
        pooling_path = folder / "1_Pooling" / "config.json"
    if pooling_path is None or not pooling_path.is_file():
        return PoolingConfig(DEFAULT_POOLING, normalize, "default", prompts)
    pooling = _mode(_read_json(pooling_path, "pooling config"), pooling_path)
    return PoolingConfig(pooling, normalize, str(pooling_path.relative_to(folder)), prompts)


def model_pooling_config(model) -> PoolingConfig:
    """The engine's pooling config, read once from the folder it was loaded from."""
    if model.pooling_config is None:
        model.pooling_config = read_pooling_config(model.folder)
    return model.pooling_config

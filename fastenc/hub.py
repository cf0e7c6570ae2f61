"""Turn what a user typed (a local folder or a Hub id) into a local folder holding the files we read."""
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

# The Hub moved its original, un-namespaced models into organisations and redirects the old names. Offline, the cache
# only knows the new name, so we apply the same redirects ourselves (exact names only).
_LEGACY_ORGS = {
    "google-bert": [
        "bert-base-uncased", "bert-large-uncased", "bert-base-cased", "bert-large-cased",
        "bert-base-multilingual-uncased", "bert-base-multilingual-cased", "bert-base-chinese",
        "bert-base-german-cased", "bert-base-german-dbmdz-cased", "bert-base-german-dbmdz-uncased",
        "bert-large-uncased-whole-word-masking", "bert-large-cased-whole-word-masking",
        "bert-large-uncased-whole-word-masking-finetuned-squad", "bert-large-cased-whole-word-masking-finetuned-squad",
        "bert-base-cased-finetuned-mrpc",
    ],
    "FacebookAI": [
        "roberta-base", "roberta-large", "roberta-large-mnli", "roberta-base-openai-detector",
        "roberta-large-openai-detector", "xlm-roberta-base", "xlm-roberta-large",
        "xlm-roberta-large-finetuned-conll02-dutch", "xlm-roberta-large-finetuned-conll02-spanish",
        "xlm-roberta-large-finetuned-conll03-english", "xlm-roberta-large-finetuned-conll03-german",
    ],
    "distilbert": [
        "distilbert-base-uncased", "distilbert-base-cased", "distilbert-base-uncased-distilled-squad",
        "distilbert-base-cased-distilled-squad", "distilbert-base-multilingual-cased", "distilbert-base-german-cased",
        "distilbert-base-uncased-finetuned-sst-2-english", "distilroberta-base",
    ],
    "albert": [f"albert-{size}-{v}" for size in ("base", "large", "xlarge", "xxlarge") for v in ("v1", "v2")],
    "almanach": ["camembert-base"],
}
SHORT_NAMES = {name: f"{org}/{name}" for org, names in _LEGACY_ORGS.items() for name in names}

CONFIG_FILES = ["config.json"]
TOKENIZER_FILES = [
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.txt", "vocab.json", "merges.txt", "sentencepiece.bpe.model", "spiece.model",
]
# sentence-transformers' pipeline files: the pooling and normalisation `embed` and `fastenc serve` default to.
SENTENCE_TRANSFORMERS_FILES = ["modules.json", "config_sentence_transformers.json", "*_Pooling/config.json"]
SAFETENSORS_FILES = ["model.safetensors", "model.safetensors.index.json", "model-*-of-*.safetensors"]
TORCH_BIN_FILES = ["pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*-of-*.bin"]


# The largest JSON or vocabulary file we read whole. Real ones are far smaller (the biggest tokenizer.json of a
# multilingual model is tens of MB); a bigger file is refused before it is read, so a hostile one cannot fill memory.
MAX_TEXT_FILE_BYTES = 256 * 2**20


def check_file_size(path: Path, error=ValueError) -> None:
    """Refuse a JSON or vocabulary file over MAX_TEXT_FILE_BYTES before reading it."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise error(f"cannot read {str(path)!r}: {e}") from e
    if size > MAX_TEXT_FILE_BYTES:
        raise error(f"{str(path)!r} is {size:,} bytes, over the {MAX_TEXT_FILE_BYTES:,}-byte limit for the JSON "
                    "and vocabulary files of a model folder: not a real one, refusing to read it")


def read_text_file(path: Path, error=ValueError) -> str:
    """The UTF-8 text of a model-folder file (config, tokenizer, shard index), after checking its size; any
    problem is `error` naming the file."""
    check_file_size(path, error)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"cannot read {str(path)!r}: {e}") from e


def read_json_file(path: Path, error=ValueError, expect=dict):
    """A JSON file of a model folder, checked like read_text_file; the top-level value must be an `expect`."""
    text = read_text_file(path, error)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise error(f"{str(path)!r} is not valid JSON (truncated or corrupt?): {e}") from e
    except RecursionError as e:  # json recurses once per nesting level
        raise error(f"{str(path)!r} is nested too deeply to be a real model file") from e
    if not isinstance(value, expect):
        raise error(f"{str(path)!r} must hold a JSON {'object' if expect is dict else expect.__name__}, "
                    f"found {type(value).__name__}")
    return value


class ModelNotFoundError(FileNotFoundError):
    """Raised when a name is neither a local folder nor a Hub repository we can reach or find in the cache."""


def canonical_repo_id(name: str) -> str:
    """`roberta-large` -> `FacebookAI/roberta-large`; anything else unchanged."""
    return SHORT_NAMES.get(name, name)


def _has_weights(folder: Path) -> bool:
    return any(folder.glob("*.safetensors")) or any(folder.glob("pytorch_model*.bin"))


def resolve_folder(name_or_path, files=None, need_weights: bool = True) -> Path:
    """Return a local folder for `name_or_path`: the folder itself, or a Hub snapshot (downloaded or cached).

    `files` is the allow-list of file patterns to fetch from the Hub; by default the config, the tokenizer files and
    the weights (safetensors first; the pickled `.bin` only when a repository has no safetensors).
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"name_or_path must be a str (a folder or a Hub id) or a path, not "
                        f"{type(name_or_path).__name__}")
    if not str(name_or_path).strip():
        raise ValueError("name_or_path is empty: give a model folder or a Hugging Face Hub id")
    path = Path(os.path.expanduser(str(name_or_path)))
    try:
        if path.is_dir():
            return path
        exists = path.exists()
    except OSError as e:  # a name too long for the file system, for instance
        raise ModelNotFoundError(f"no model folder at {str(name_or_path)[:200]!r}: {e.strerror}") from e
    if exists:
        raise ModelNotFoundError(f"{str(name_or_path)!r} is a file; expected a model folder or a Hugging Face Hub id")
    repo_id = canonical_repo_id(str(name_or_path))
    if repo_id.count("/") > 1 or str(name_or_path).startswith((".", "/", "~")):
        raise ModelNotFoundError(f"no model folder at {str(path.resolve())!r} (and it is not a Hub id)")

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError

    base = list(files) if files is not None else CONFIG_FILES + TOKENIZER_FILES + SENTENCE_TRANSFORMERS_FILES
    try:
        folder = Path(snapshot_download(repo_id, allow_patterns=base + (SAFETENSORS_FILES if need_weights else [])))
        if need_weights and not _has_weights(folder):
            log.debug("%s has no safetensors weights; fetching pytorch_model.bin", repo_id)
            folder = Path(snapshot_download(repo_id, allow_patterns=base + TORCH_BIN_FILES))
    except HFValidationError as e:
        raise ModelNotFoundError(
            f"no model folder at {str(path.resolve())!r}, and {repo_id!r} is not a valid Hub id") from e
    except Exception as e:  # offline cache misses, missing repos, network errors: all mean "not found here"
        from huggingface_hub.constants import HF_HUB_CACHE, HF_HUB_OFFLINE

        where = f"the local folder {str(path.resolve())!r}, the Hub cache {HF_HUB_CACHE!r}"
        where += " (HF_HUB_OFFLINE is set, so the Hub itself was not asked)" if HF_HUB_OFFLINE else " and the Hub"
        alias = f" (the Hub name of {name_or_path!r})" if repo_id != str(name_or_path) else ""
        raise ModelNotFoundError(
            f"model {repo_id!r}{alias} not found: looked in {where}: {type(e).__name__}: {e}") from e
    return folder

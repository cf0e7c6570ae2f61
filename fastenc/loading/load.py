"""`fastenc.load`: a folder or Hub id -> an Engine (model + tokenizer) on the chosen device, dtype and backend."""
import logging

import torch

from . import checkpoint
from ..config import ConfigError, EncoderConfig
from ..hub import resolve_folder
from ..engine import Engine
from ..models.bert.model import EncoderModel
from ..ops.interface import ops_for
from .weights import read_tensors

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
          "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def _pick_dtype(dtype, device: torch.device) -> torch.dtype:
    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)} or a torch.dtype, got {dtype!r}")
        return DTYPES[dtype]
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"dtype must be float32, float16 or bfloat16, got {dtype}")
    return dtype


def load(name_or_path, device=None, dtype=None, backend=None, task=None) -> Engine:
    """Load a BERT-family checkpoint.

    device: default CUDA when available, else CPU. dtype: default bf16 on CUDA, fp32 on CPU.
    backend: "triton" (fused kernels; default on CUDA) or "torch" (the PyTorch reference; default elsewhere).
    task: run another head than config.json's `architectures` names (e.g. "base" for the bare encoder).
    """
    folder = resolve_folder(name_or_path)
    if not (folder / "config.json").is_file():
        raise ConfigError(f"no config.json in {str(folder)!r}: not a Hugging Face model folder")
    config = EncoderConfig.from_file(folder / "config.json", task=task)
    device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = _pick_dtype(dtype, device)
    if backend is None:
        backend = "triton" if device.type == "cuda" else "torch"
    ops_for(backend)  # an unknown backend fails here, before any weight is read

    tensors = checkpoint.normalise_names(read_tensors(folder), config)
    # Built on the meta device: parameters take no memory until the checkpoint's tensors are assigned to them.
    with torch.device("meta"):
        model = EncoderModel(config, with_pooler=checkpoint.has_pooler(tensors, config))
    expected = {name: p.shape for name, p in model.named_parameters(remove_duplicate=False)}
    state = checkpoint.convert(tensors, config, expected, dtype, device)
    model.load_state_dict(state, strict=True, assign=True)
    if model.mlm is not None and config.tie_word_embeddings:
        model.mlm.decoder = model.embeddings.word.weight  # one Parameter, as transformers ties them
    model.requires_grad_(False)  # an inference engine: no autograd graph behind any output
    model.eval().set_backend(backend)
    log.debug("loaded %s (%s, %s) from %s on %s as %s", config.model_type, config.task, backend, folder, device, dtype)
    return Engine(model, _load_tokenizer(folder), str(name_or_path))


def _load_tokenizer(folder):
    """The folder's tokenizer, or None when it ships none (a bare weights folder)."""
    try:
        from ..tokenizer import Tokenizer
    except ImportError:  # the tokenizer module is optional while the extension is being built
        return None
    names = ("tokenizer.json", "vocab.txt", "vocab.json", "sentencepiece.bpe.model", "spiece.model")
    if not any((folder / n).is_file() for n in names):
        return None
    return Tokenizer.from_pretrained(folder)

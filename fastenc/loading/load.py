"""`fastenc.load`: a folder or Hub id -> an Engine (model + tokenizer) on the chosen device, dtype and backend."""
import logging

import torch

from . import checkpoint
from ..config import ConfigError, EncoderConfig
from ..hub import resolve_folder
from ..engine import Engine
from ..models.bert.model import EncoderModel
from ..ops.interface import BACKENDS, ops_for
from .weights import read_tensors

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
          "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


def _pick_device(device) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or a torch.device, got {device!r}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} asked for, but this machine has no usable CUDA GPU")
    return device


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
    device = _pick_device(device)
    dtype = _pick_dtype(dtype, device)
    if backend is None:
        backend = "triton" if device.type == "cuda" else "torch"
    if not isinstance(backend, str):
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {backend!r}")
    ops_for(backend)  # an unknown backend fails here, before any weight is read

    tensors = checkpoint.normalise_names(read_tensors(folder), config)
    _check_config_fits(config, tensors, folder)
    # Built on the meta device: parameters take no memory until the checkpoint's tensors are assigned to them.
    with torch.device("meta"):
        model = model_class(config)(config, with_pooler=checkpoint.has_pooler(tensors, config))
    expected = {name: p.shape for name, p in model.named_parameters(remove_duplicate=False)}
    state = checkpoint.convert(tensors, config, expected, dtype, device)
    model.load_state_dict(state, strict=True, assign=True)
    if model.mlm is not None and config.tie_word_embeddings:
        model.mlm.decoder = model.embeddings.word.weight  # one Parameter, as transformers ties them
    model.requires_grad_(False)  # an inference engine: no autograd graph behind any output
    model.eval().set_backend(backend)
    log.debug("loaded %s (%s, %s) from %s on %s as %s", config.model_type, config.task, backend, folder, device, dtype)
    return Engine(model, _load_tokenizer(folder), str(name_or_path), folder)


def model_class(config: EncoderConfig) -> type:
    """The tensor module that runs this config's family: ModernBERT, DeBERTa and GTE have their own (imported only when
    asked for); BERT, RoBERTa, XLM-R, DistilBERT, ALBERT and ELECTRA share EncoderModel."""
    if config.family == "modernbert":
        from ..models.modernbert.model import ModernBertModel

        return ModernBertModel
    if config.family == "deberta-v2":
        from ..models.deberta.model import DebertaModel

        return DebertaModel
    if config.family == "gte":
        from ..models.gte.model import GteModel

        return GteModel

    if config.family == "nomic_bert":
        from ..models.nomic_bert.model import NomicBertModel

        return NomicBertModel

    if config.family == "mpnet":
        from ..models.mpnet.model import MPNetModel

        return MPNetModel
    return EncoderModel


def _check_config_fits(config, tensors: dict, folder) -> None:
    """Refuse a config.json whose sizes the checkpoint cannot hold, before building anything from them: a hostile
    vocab_size=10**12 must not become a 10**12-row table. The bound is loose (x2): only absurd configs trip it."""
    stored = sum(t.numel() for t in tensors.values())
    needed = config.minimum_parameters()
    if needed > 2 * stored:
        raise ConfigError(
            f"{str(folder / 'config.json')!r} describes a model of at least {needed:,} parameters (vocab_size="
            f"{config.vocab_size}, hidden_size={config.hidden_size}, {config.num_layers} layers, intermediate_size="
            f"{config.intermediate_size}) but the checkpoint's tensors hold {stored:,}: its sizes are wrong"
        )


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

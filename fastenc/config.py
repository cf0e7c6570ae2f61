"""Typed model configuration, read from a Hugging Face `config.json`.

Each family spells its fields differently (DistilBERT says `dim` and `n_layers`); they all land in one dataclass whose
field names say what they change in the forward pass.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path

# model_type in config.json -> the architecture family we run it with. XLM-R and CamemBERT are RoBERTa.
FAMILIES = {
    "bert": "bert",
    "roberta": "roberta",
    "xlm-roberta": "roberta",
    "camembert": "roberta",
    "distilbert": "distilbert",
    "albert": "albert",
}

# Class-name prefixes that transformers uses for each model_type, to read `architectures`.
_CLASS_PREFIXES = {
    "bert": "Bert", "roberta": "Roberta", "xlm-roberta": "XLMRoberta", "camembert": "Camembert",
    "distilbert": "DistilBert", "albert": "Albert",
}
# Class-name suffix -> the task head we run. Heads we do not run (multiple choice, causal LM) are absent on purpose.
_TASKS = {
    "Model": "base",
    "ForMaskedLM": "masked_lm",
    "ForPreTraining": "pretraining",
    "ForNextSentencePrediction": "next_sentence",
    "ForSequenceClassification": "sequence_classification",
    "ForTokenClassification": "token_classification",
    "ForQuestionAnswering": "question_answering",
}
TASKS = tuple(_TASKS.values())


class ConfigError(ValueError):
    """A config.json we cannot run: unknown model type, unsupported option, missing field."""


@dataclass
class EncoderConfig:
    model_type: str  # as written in config.json ("bert", "xlm-roberta", ...)
    family: str  # architecture we run: "bert", "roberta", "distilbert" or "albert"
    task: str  # which head runs on top of the encoder: one of TASKS
    vocab_size: int
    hidden_size: int  # width of the residual stream
    num_layers: int  # layer applications (ALBERT applies shared layers this many times)
    num_heads: int
    intermediate_size: int  # FFN inner width
    hidden_act: str  # FFN activation, a key of fastenc.ops.reference.ACTIVATIONS
    max_position_embeddings: int
    layer_norm_eps: float
    pad_token_id: int
    type_vocab_size: int = 0  # 0: no token-type embeddings (DistilBERT)
    embedding_size: int = 0  # ALBERT's factorised embedding width; equals hidden_size elsewhere
    sinusoidal_positions: bool = False  # DistilBERT: fixed sin/cos position table when the checkpoint lacks one
    num_hidden_groups: int = 1  # ALBERT: distinct groups of shared layers
    inner_group_num: int = 1  # ALBERT: layers inside each group
    tie_word_embeddings: bool = True  # MLM decoder shares the word-embedding matrix
    num_labels: int = 2
    id2label: dict = field(default_factory=dict)
    problem_type: str | None = None  # how classification scores are read: None/"single_label_classification" softmax,
    # "multi_label_classification" sigmoid, "regression" raw
    architecture: str | None = None

    def __post_init__(self):
        if not self.embedding_size:
            self.embedding_size = self.hidden_size
        if self.hidden_size % self.num_heads:
            raise ConfigError(f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_heads}")
        if self.family == "albert" and self.num_layers % self.num_hidden_groups:
            raise ConfigError(
                f"num_hidden_layers {self.num_layers} is not a multiple of num_hidden_groups {self.num_hidden_groups}"
            )

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def position_offset(self) -> int:
        """RoBERTa numbers positions from pad_token_id + 1 and gives padding the position pad_token_id."""
        return self.pad_token_id + 1 if self.family == "roberta" else 0

    @classmethod
    def from_file(cls, path, task: str | None = None) -> "EncoderConfig":
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"cannot read model config {str(path)!r}: {e}") from e
        return cls.from_dict(raw, source=str(path), task=task)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config", task: str | None = None) -> "EncoderConfig":
        model_type = raw.get("model_type")
        if model_type not in FAMILIES:
            raise ConfigError(
                f"{source}: unsupported model_type {model_type!r}; fastenc runs {sorted(FAMILIES)}"
            )
        family = FAMILIES[model_type]
        architecture = (raw.get("architectures") or [None])[0]
        task = task or _task_of(model_type, architecture, source)  # an explicit task overrides `architectures`
        if task not in TASKS:
            raise ConfigError(f"{source}: unknown task {task!r}; expected one of {TASKS}")
        reader = {"distilbert": _distilbert_fields}.get(family, _bert_fields)
        raw = {**DEFAULTS[model_type], **{k: v for k, v in raw.items() if v is not None}}
        fields = reader(raw, source)
        id2label = {int(k): v for k, v in (raw.get("id2label") or {}).items()}
        return cls(
            model_type=model_type,
            family=family,
            task=task,
            architecture=architecture,
            id2label=id2label,
            num_labels=len(id2label) or int(raw.get("num_labels", 2)),
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", True)),
            problem_type=raw.get("problem_type"),
            pad_token_id=int(raw["pad_token_id"]),
            **fields,
        )


# What transformers' config classes assume for a field that config.json leaves out, per model_type.
_BERT_DEFAULTS = dict(
    vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0,
)
DEFAULTS = {
    "bert": _BERT_DEFAULTS,
    "roberta": {**_BERT_DEFAULTS, "vocab_size": 50265, "pad_token_id": 1},
    "xlm-roberta": {**_BERT_DEFAULTS, "pad_token_id": 1},
    "camembert": {**_BERT_DEFAULTS, "pad_token_id": 1},
    "albert": dict(
        vocab_size=30000, embedding_size=128, hidden_size=4096, num_hidden_layers=12, num_hidden_groups=1,
        num_attention_heads=64, intermediate_size=16384, inner_group_num=1, hidden_act="gelu_new",
        max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0,
    ),
    "distilbert": dict(
        vocab_size=30522, max_position_embeddings=512, sinusoidal_pos_embds=False, n_layers=6, n_heads=12, dim=768,
        hidden_dim=3072, activation="gelu", pad_token_id=0,
    ),
}


def _task_of(model_type: str, architecture: str | None, source: str) -> str:
    if architecture is None:
        return "base"
    prefix = _CLASS_PREFIXES[model_type]
    suffix = architecture[len(prefix):] if architecture.startswith(prefix) else None
    if suffix not in _TASKS:
        raise ConfigError(
            f"{source}: unsupported architecture {architecture!r}; fastenc runs "
            f"{sorted(prefix + s for s in _TASKS)} (pass task=... to load the encoder with another head)"
        )
    return _TASKS[suffix]


def _bert_fields(raw: dict, source: str) -> dict:
    """BERT, RoBERTa (XLM-R, CamemBERT) and ALBERT share BERT's field names."""
    position_type = raw.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ConfigError(f"{source}: position_embedding_type {position_type!r} is not supported (only 'absolute')")
    albert = raw["model_type"] == "albert"
    return dict(
        vocab_size=int(raw["vocab_size"]),
        hidden_size=int(raw["hidden_size"]),
        num_layers=int(raw["num_hidden_layers"]),
        num_heads=int(raw["num_attention_heads"]),
        intermediate_size=int(raw["intermediate_size"]),
        hidden_act=str(raw["hidden_act"]),
        max_position_embeddings=int(raw["max_position_embeddings"]),
        layer_norm_eps=float(raw["layer_norm_eps"]),
        type_vocab_size=int(raw["type_vocab_size"]),
        embedding_size=int(raw["embedding_size"]) if albert else 0,
        num_hidden_groups=int(raw["num_hidden_groups"]) if albert else 1,
        inner_group_num=int(raw["inner_group_num"]) if albert else 1,
    )


def _distilbert_fields(raw: dict, source: str) -> dict:
    return dict(
        vocab_size=int(raw["vocab_size"]),
        hidden_size=int(raw["dim"]),
        num_layers=int(raw["n_layers"]),
        num_heads=int(raw["n_heads"]),
        intermediate_size=int(raw["hidden_dim"]),
        hidden_act=str(raw["activation"]),
        max_position_embeddings=int(raw["max_position_embeddings"]),
        layer_norm_eps=1e-12,  # fixed in DistilBERT's code, not configurable
        type_vocab_size=0,
        sinusoidal_positions=bool(raw["sinusoidal_pos_embds"]),
    )

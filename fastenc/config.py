"""Typed model configuration, read from a Hugging Face `config.json`.

Each family spells its fields differently (DistilBERT says `dim` and `n_layers`); they all land in one dataclass whose
field names say what they change in the forward pass.
"""
import math
from dataclasses import dataclass, field
from pathlib import Path

from .models.gte.config import DEFAULTS as GTE_DEFAULTS
from .models.modernbert.config import DEFAULTS as MODERNBERT_DEFAULTS

# model_type in config.json -> the architecture family we run it with. XLM-R and CamemBERT are RoBERTa.
FAMILIES = {
    "bert": "bert",
    "roberta": "roberta",
    "xlm-roberta": "roberta",
    "camembert": "roberta",
    "distilbert": "distilbert",
    "albert": "albert",
    "modernbert": "modernbert",
    "deberta-v2": "deberta-v2",
    "electra": "electra",
    "gte": "gte",
    "new": "gte",  # GTE's original remote code (Alibaba-NLP/new-impl), which many checkpoints' config.json still name
    "nomic_bert": "nomic_bert",
    "mpnet": "mpnet",
}

# Class-name prefixes that transformers uses for each model_type, to read `architectures`.
_CLASS_PREFIXES = {
    "bert": "Bert", "roberta": "Roberta", "xlm-roberta": "XLMRoberta", "camembert": "Camembert",
    "distilbert": "DistilBert", "albert": "Albert", "modernbert": "ModernBert", "deberta-v2": "DebertaV2",
    "electra": "Electra",
    "gte": "Gte", "new": "New", "nomic_bert": "NomicBert", "mpnet": "MPNet",
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
# (model_type, class-name suffix) whose head is another task's: nomic-bert-2048's remote-code NomicBertForPreTraining
# is a masked LM alone (no next-sentence head).
_TASK_ALIASES = {("nomic_bert", "ForPreTraining"): "masked_lm"}


class ConfigError(ValueError):
    """A config.json we cannot run: unknown model type, unsupported option, missing field."""


@dataclass
class EncoderConfig:
    model_type: str  # as written in config.json ("bert", "xlm-roberta", ...)
    family: str  # architecture we run: "bert", "roberta", "distilbert", "albert", "deberta-v2", "electra", "gte",
    # "nomic_bert"
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
    embedding_size: int = 0  # ALBERT's and ELECTRA's factorised embedding width; equals hidden_size elsewhere
    sinusoidal_positions: bool = False  # DistilBERT: fixed sin/cos position table when the checkpoint lacks one
    num_hidden_groups: int = 1  # ALBERT: distinct groups of shared layers
    inner_group_num: int = 1  # ALBERT: layers inside each group
    tie_word_embeddings: bool = True  # MLM decoder shares the word-embedding matrix
    num_labels: int = 2
    id2label: dict = field(default_factory=dict)
    problem_type: str | None = None  # how classification scores are read: None/"single_label_classification" softmax,
    # "multi_label_classification" sigmoid, "regression" raw
    architecture: str | None = None
    modernbert: object = None  # ModernBERT only: its fastenc.models.modernbert.config.ModernBertOptions
    deberta: object = None  # DeBERTa-v2 only: its fastenc.models.deberta.config.DebertaSettings
    gte: object = None  # GTE only: its fastenc.models.gte.config.GteOptions (RoPE scaling, logn)
    nomic_bert: object = None  # NomicBERT only: its fastenc.models.nomic_bert.config.NomicBertOptions
    head_size: int = 0  # per-head width where config.json's head_dim departs from hidden_size / heads (NomicBERT);
    # 0: that quotient, which every other family uses
    mpnet: object = None  # MPNet only: its fastenc.models.mpnet.config.MPNetSettings

    def __post_init__(self):
        if not self.embedding_size:
            self.embedding_size = self.hidden_size
        if self.deberta is not None and not self.deberta.legacy_mlm_head:
            self.tie_word_embeddings = True  # that head always multiplies by the word embeddings
        _check_sizes(self)
        if self.hidden_size % self.num_heads and not self.head_size:
            raise ConfigError(
                f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_heads}")
        if self.family == "albert" and self.num_layers % self.num_hidden_groups:
            raise ConfigError(
                f"num_hidden_layers {self.num_layers} is not a multiple of num_hidden_groups {self.num_hidden_groups}"
            )

    def minimum_parameters(self) -> int:
        """A lower bound on the parameters a checkpoint of this config stores: word embeddings and each distinct
        layer's four attention and two FFN matrices (biases, norms, positions and heads left out)."""
        distinct_layers = self.num_hidden_groups * self.inner_group_num if self.family == "albert" else self.num_layers
        H, I, A = self.hidden_size, self.intermediate_size, self.num_heads * self.head_dim
        return self.vocab_size * self.embedding_size + distinct_layers * (4 * H * A + 2 * H * I)

    @property
    def head_dim(self) -> int:
        return self.head_size or self.hidden_size // self.num_heads

    @property
    def position_offset(self) -> int:
        """RoBERTa numbers positions from pad_token_id + 1 and gives padding the position pad_token_id; MPNet does the
        same from its fixed padding index 1."""
        if self.family == "mpnet":
            return 2
        return self.pad_token_id + 1 if self.family == "roberta" else 0

    @classmethod
    def from_file(cls, path, task: str | None = None) -> "EncoderConfig":
        from .hub import read_json_file

        path = Path(path)
        raw = read_json_file(path, ConfigError)
        try:
            return cls.from_dict(raw, source=str(path), task=task)
        except ConfigError as e:  # the size checks in __post_init__ do not know the file
            if str(path) in str(e):
                raise
            raise ConfigError(f"{str(path)!r}: {e}") from None

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config", task: str | None = None) -> "EncoderConfig":
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: a model config must be a JSON object, not {type(raw).__name__}")
        model_type = raw.get("model_type")
        if model_type == "deberta":
            raise ConfigError(f"{source}: DeBERTa v1 (model_type 'deberta') is not supported; fastenc runs "
                              "DeBERTa-v2 and v3 (model_type 'deberta-v2')")
        if not isinstance(model_type, str) or model_type not in FAMILIES:
            raise ConfigError(
                f"{source}: unsupported model_type {model_type!r}; fastenc runs {sorted(FAMILIES)}"
            )
        family = FAMILIES[model_type]
        architectures = raw.get("architectures") or [None]
        if not isinstance(architectures, list) or not isinstance(architectures[0], (str, type(None))):
            raise ConfigError(f"{source}: architectures must be a list of class names, got {_short(architectures)}")
        architecture = architectures[0]
        task = task or _task_of(model_type, architecture, source)  # an explicit task overrides `architectures`
        if task not in TASKS:
            raise ConfigError(f"{source}: unknown task {task!r}; expected one of {TASKS}")
        reader = {"distilbert": _distilbert_fields, "modernbert": _modernbert_fields,
                  "deberta-v2": _deberta_fields, "gte": _gte_fields,
                  "nomic_bert": _nomic_bert_fields, "mpnet": _mpnet_fields}.get(family, _bert_fields)
        raw = {**DEFAULTS[model_type], **{k: v for k, v in raw.items() if v is not None}}
        fields = reader(raw, source)
        id2label = raw.get("id2label") or {}
        try:
            id2label = {int(k): str(v) for k, v in id2label.items()}
        except (AttributeError, TypeError, ValueError) as e:
            raise ConfigError(f"{source}: id2label must map label ids to names, got {_short(id2label)}") from e
        return cls(
            model_type=model_type,
            family=family,
            task=task,
            architecture=architecture,
            id2label=id2label,
            num_labels=len(id2label) or _int(raw, "num_labels", source, default=2),
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", True)),
            problem_type=raw.get("problem_type"),
            pad_token_id=_int(raw, "pad_token_id", source),
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
    "electra": {**_BERT_DEFAULTS, "embedding_size": 128, "hidden_size": 256, "num_attention_heads": 4,
                "intermediate_size": 1024},
    "deberta-v2": dict(
        vocab_size=128100, hidden_size=1536, num_hidden_layers=24, num_attention_heads=24, intermediate_size=6144,
        hidden_act="gelu", max_position_embeddings=512, type_vocab_size=0, layer_norm_eps=1e-7, pad_token_id=0,
        relative_attention=False, max_relative_positions=-1, position_buckets=-1, position_biased_input=True,
        conv_kernel_size=0, conv_groups=1, conv_act="tanh", pooler_hidden_act="gelu", legacy=True,
    ),
}
DEFAULTS["modernbert"] = MODERNBERT_DEFAULTS
DEFAULTS["gte"] = GTE_DEFAULTS
# The original remote code's NewConfig defaults (its pad_token_id is left to PretrainedConfig: 0 here).
DEFAULTS["new"] = {**GTE_DEFAULTS, "vocab_size": 30528, "max_position_embeddings": 2048, "pad_token_id": 0,
                   "rope_theta": 10000.0}
DEFAULTS["nomic_bert"] = {"pad_token_id": 0}  # the other defaults are filled by its reader, which knows two spellings
DEFAULTS["mpnet"] = dict(
    vocab_size=30527, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", max_position_embeddings=512, layer_norm_eps=1e-12, relative_attention_num_buckets=32,
    pad_token_id=1,
)


def _task_of(model_type: str, architecture: str | None, source: str) -> str:
    if architecture is None:
        return "base"
    prefix = _CLASS_PREFIXES[model_type]
    suffix = architecture[len(prefix):] if architecture.startswith(prefix) else None
    if (model_type, suffix) in _TASK_ALIASES:
        return _TASK_ALIASES[model_type, suffix]
    if suffix not in _TASKS:
        raise ConfigError(
            f"{source}: unsupported architecture {architecture!r}; fastenc runs "
            f"{sorted(prefix + s for s in _TASKS)} (pass task=... to load the encoder with another head)"
        )
    return _TASKS[suffix]


def _bert_fields(raw: dict, source: str) -> dict:
    """BERT, RoBERTa (XLM-R, CamemBERT), ALBERT and ELECTRA share BERT's field names."""
    position_type = raw.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ConfigError(f"{source}: position_embedding_type {position_type!r} is not supported (only 'absolute')")
    albert = raw["model_type"] == "albert"
    factorised = raw["model_type"] in ("albert", "electra")  # embedding_size may differ from hidden_size
    return dict(
        vocab_size=_int(raw, "vocab_size", source),
        hidden_size=_int(raw, "hidden_size", source),
        num_layers=_int(raw, "num_hidden_layers", source),
        num_heads=_int(raw, "num_attention_heads", source),
        intermediate_size=_int(raw, "intermediate_size", source),
        hidden_act=_str(raw, "hidden_act", source),
        max_position_embeddings=_int(raw, "max_position_embeddings", source),
        layer_norm_eps=_float(raw, "layer_norm_eps", source),
        type_vocab_size=_int(raw, "type_vocab_size", source),
        embedding_size=_int(raw, "embedding_size", source) if factorised else 0,
        num_hidden_groups=_int(raw, "num_hidden_groups", source) if albert else 1,
        inner_group_num=_int(raw, "inner_group_num", source) if albert else 1,
    )


def _modernbert_fields(raw: dict, source: str) -> dict:
    from .models.modernbert.config import read_fields  # imported here: it imports this module's readers

    return read_fields(raw, source)


def _deberta_fields(raw: dict, source: str) -> dict:
    from .models.deberta.config import deberta_fields  # beside the model; imports this module

    return deberta_fields(raw, source)


def _gte_fields(raw: dict, source: str) -> dict:
    from .models.gte.config import read_fields  # beside the model; imports this module's readers

    return read_fields(raw, source)


def _nomic_bert_fields(raw: dict, source: str) -> dict:
    from .models.nomic_bert.config import read_fields  # beside the model; imports this module

    return read_fields(raw, source)

def _mpnet_fields(raw: dict, source: str) -> dict:
    from .models.mpnet.config import mpnet_fields  # beside the model; imports this module

    return mpnet_fields(raw, source)


def _distilbert_fields(raw: dict, source: str) -> dict:
    return dict(
        vocab_size=_int(raw, "vocab_size", source),
        hidden_size=_int(raw, "dim", source),
        num_layers=_int(raw, "n_layers", source),
        num_heads=_int(raw, "n_heads", source),
        intermediate_size=_int(raw, "hidden_dim", source),
        hidden_act=_str(raw, "activation", source),
        max_position_embeddings=_int(raw, "max_position_embeddings", source),
        layer_norm_eps=1e-12,  # fixed in DistilBERT's code, not configurable
        type_vocab_size=0,
        sinusoidal_positions=bool(raw["sinusoidal_pos_embds"]),
    )


# Bounds no real BERT-family checkpoint comes near; they turn a corrupt or hostile config.json into an error before
# anything is built (10**6 layers would take minutes to build and forever to run). Sizes that fit these bounds but
# not the weights file are caught by comparing minimum_parameters() with the checkpoint (fastenc.loading).
MAX_LAYERS = 1024
MAX_WIDTH = 2**20  # hidden, intermediate, embedding sizes, positions, token types, labels
MAX_VOCAB = 2**31 - 1  # token ids are int32 in the tokenizer


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _int(raw: dict, key: str, source: str, default=None) -> int:
    value = raw.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{source}: {key} must be an integer, got {_short(value)}")
    return value


def _float(raw: dict, key: str, source: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{source}: {key} must be a number, got {_short(value)}")
    return float(value)


def _str(raw: dict, key: str, source: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise ConfigError(f"{source}: {key} must be a string, got {_short(value)}")
    return value


def _check_sizes(config: EncoderConfig) -> None:
    """Every size positive and below the bounds above; the ids that index tables inside them."""
    bounds = dict(vocab_size=(1, MAX_VOCAB), hidden_size=(1, MAX_WIDTH), num_layers=(1, MAX_LAYERS),
                  num_heads=(1, MAX_WIDTH), intermediate_size=(1, MAX_WIDTH),
                  max_position_embeddings=(1, MAX_WIDTH), type_vocab_size=(0, MAX_WIDTH),
                  embedding_size=(1, MAX_WIDTH), num_hidden_groups=(1, MAX_LAYERS), inner_group_num=(1, MAX_LAYERS),
                  num_labels=(1, MAX_WIDTH), head_size=(0, MAX_WIDTH))
    # config.json's names for our fields, so the message names what the user sees in the file.
    spelled = dict(num_layers="num_hidden_layers", num_heads="num_attention_heads", head_size="head_dim")
    for name, (low, high) in bounds.items():
        value = getattr(config, name)
        if not low <= value <= high:
            raise ConfigError(f"{spelled.get(name, name)} is {value}: it must lie in [{low}, {high}]")
    if not 0 <= config.pad_token_id < config.vocab_size:
        raise ConfigError(f"pad_token_id {config.pad_token_id} is outside the vocabulary [0, {config.vocab_size})")
    if not (math.isfinite(config.layer_norm_eps) and config.layer_norm_eps > 0):
        raise ConfigError(f"layer_norm_eps must be a positive finite number, got {config.layer_norm_eps}")
    if config.max_position_embeddings <= config.position_offset:
        raise ConfigError(f"max_position_embeddings {config.max_position_embeddings} leaves no position after "
                          f"RoBERTa's offset of pad_token_id + 1 = {config.position_offset}")

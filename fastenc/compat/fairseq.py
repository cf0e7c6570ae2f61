"""fairseq's RoBERTa hub interface on a fastenc model: encode, decode, extract_features, classification heads, predict.

Code written for `torch.hub.load('pytorch/fairseq', 'roberta.large')` runs with `fastenc.load('roberta-large')`.
Tokens are 1-D LongTensors with the special tokens, as fairseq's `encode` returns them.
"""
import logging
from pathlib import PurePath

import torch
import torch.nn.functional as F
from torch import nn

from ..inputs import as_token_ids
from ..models.registry import label_names

log = logging.getLogger(__name__)

# A checkpoint fine-tuned on one of these tasks (named by its last "-" part: roberta-large-mnli) exposes its head
# under the task's name, as fairseq's fine-tuned RoBERTa models do ("mnli"). Others use fairseq's default head name.
KNOWN_TASK_HEADS = ("mnli", "qnli", "qqp", "rte", "sst2", "sst-2", "mrpc", "cola", "stsb", "sts-b", "wnli", "boolq")
DEFAULT_HEAD_NAME = "sentence_classification_head"


def require_tokenizer(model):
    if model.tokenizer is None:
        raise ValueError(
            f"{getattr(model, 'name_or_path', 'this model')!r} has no tokenizer files (tokenizer.json, vocab.txt, "
            "vocab.json + merges.txt): text methods need one; pass token ids to the model instead"
        )
    return model.tokenizer


def encode(model, sentence: str, *addl_sentences: str) -> torch.Tensor:
    """1-D LongTensor with special tokens: `<s> a </s>`, pairs as the tokenizer builds them (`<s> a </s></s> b </s>`,
    `[CLS] a [SEP] b [SEP]`); each further sentence is appended as the pair template appends the second one."""
    tokenizer = require_tokenizer(model)
    for i, text in enumerate((sentence,) + addl_sentences):
        if not isinstance(text, str):
            raise TypeError(f"sentence {i} must be a str, not {type(text).__name__}")
    if not addl_sentences:
        return torch.tensor(tokenizer.encode(sentence), dtype=torch.long)
    ids = tokenizer.encode(sentence, addl_sentences[0])
    for text in addl_sentences[1:]:
        # The pair template's second part, e.g. `</s> b </s>`: pair(a, b) minus single(a).
        ids += tokenizer.encode(sentence, text)[len(tokenizer.encode(sentence)):]
    return torch.tensor(ids, dtype=torch.long)


def decode(model, tokens):
    """Text of `tokens` without special tokens; a str for one sentence, a list of str when separators split several."""
    tokenizer = require_tokenizer(model)
    tokens = as_token_ids(tokens)
    if tokens.dim() == 2 and tokens.shape[0] == 1:
        tokens = tokens[0]
    if tokens.dim() != 1:
        raise ValueError(f"decode takes one sequence (1-D tokens), got shape {tuple(tokens.shape)}")
    boundaries = {tokenizer.sep_token_id, tokenizer.eos_token_id} - {None}
    dropped = {tokenizer.cls_token_id, tokenizer.bos_token_id, tokenizer.pad_token_id} - {None}
    sentences, current = [], []
    for token in tokens.tolist():
        if token in boundaries:
            sentences.append(current)
            current = []
        elif token not in dropped:
            current.append(token)
    sentences.append(current)
    texts = [tokenizer.decode(ids) for ids in sentences if ids]
    if len(texts) <= 1:
        return texts[0] if texts else ""
    return texts


def _as_batch(model, tokens) -> dict:
    """(B, T) input_ids, attention_mask (padding = pad tokens, as fairseq reads it) and inferred token types."""
    ids = as_token_ids(tokens)
    if ids.dim() == 1:
        ids = ids[None]  # one sequence -> a batch of one
    if ids.numel() == 0:
        raise ValueError("tokens is empty: nothing to encode")
    if ids.shape[1] > model.max_length:
        raise ValueError(f"tokens exceeds maximum length: {ids.shape[1]} > {model.max_length}")
    ids = ids.long()
    inputs = {"input_ids": ids, "attention_mask": (ids != model.config.pad_token_id).long()}
    types = _pair_token_types(model, ids)
    if types is not None:
        inputs["token_type_ids"] = types
    return inputs


def _pair_token_types(model, ids: torch.Tensor):
    """BERT and ALBERT tell sentences apart by token type: 0 up to the first separator, 1 after it (what their
    tokenizers emit for pairs). Models without token types get None."""
    tokenizer = model.tokenizer
    if model.config.type_vocab_size < 2 or tokenizer is None or tokenizer.sep_token_id is None:
        return None
    if "token_type_ids" not in tokenizer.model_input_names:
        return None
    is_sep = (ids == tokenizer.sep_token_id).long()  # (B, T)
    seps_before = is_sep.cumsum(dim=1) - is_sep  # separators strictly before each position
    return (seps_before > 0).long()


def extract_features(model, tokens, return_all_hiddens: bool = False):
    """Last layer (B, T, H); with `return_all_hiddens`, the embeddings and every layer: num_layers + 1 tensors."""
    out = model(**_as_batch(model, tokens), output_hidden_states=return_all_hiddens, run_head=False)
    if return_all_hiddens:
        return list(out.hidden_states)
    return out.last_hidden_state


class ClassificationHead(nn.Module):
    """fairseq's RobertaClassificationHead: dense -> tanh -> projection, on the first token (<s> / [CLS])."""

    def __init__(self, hidden_size: int, num_classes: int, inner_dim: int | None = None):
        super().__init__()
        inner_dim = inner_dim or hidden_size
        self.dense = nn.Linear(hidden_size, inner_dim)
        self.out_proj = nn.Linear(inner_dim, num_classes)

    def forward(self, features):  # (B, T, H) -> (B, num_classes)
        return self.out_proj(torch.tanh(self.dense(features[:, 0])))


def checkpoint_head_name(model):
    """The name the checkpoint's own classifier answers to, or None when it has none."""
    if getattr(model, "classifier", None) is None:
        return None
    base = PurePath(str(getattr(model, "name_or_path", "") or "")).name.lower()
    suffix = base.rsplit("-", 1)[-1] if "-" in base else ""
    for task in KNOWN_TASK_HEADS:
        if base.endswith("-" + task) or suffix == task:
            return task
    return DEFAULT_HEAD_NAME


def registered_heads(engine, create: bool = False):
    """The heads added by register_classification_head: a ModuleDict of the model, so they follow `.to(...)`."""
    model = engine.model
    if "classification_heads" not in model._modules:
        if not create:
            return {}
        model.add_module("classification_heads", nn.ModuleDict())  # created on first use: loading never sees it
    return model._modules["classification_heads"]


def head_names(model) -> list:
    names = list(registered_heads(model).keys())
    checkpoint = checkpoint_head_name(model)
    if checkpoint is not None and checkpoint not in names:
        names.insert(0, checkpoint)
    return names


def register_classification_head(model, name: str, num_classes: int, inner_dim: int | None = None) -> nn.Module:
    """A new, randomly initialised head (to fine-tune or load into), on the model's device and dtype."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a head needs a non-empty str name, got {name!r}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    heads = registered_heads(model, create=True)
    if name in heads:
        log.warning("re-registering classification head %r (replacing the previous one)", name)
    head = ClassificationHead(model.config.hidden_size, num_classes, inner_dim)
    heads[name] = head.to(device=model.device, dtype=model.dtype).eval()
    return heads[name]


def head_labels(model, name: str) -> list:
    """Label names of a head: the checkpoint's id2label for its own head, LABEL_i for registered ones."""
    _check_head(model, name)
    if name in registered_heads(model):
        return [f"LABEL_{i}" for i in range(registered_heads(model)[name].out_proj.out_features)]
    return label_names(model.config)


def _check_head(model, name: str) -> None:
    if name not in head_names(model):
        known = head_names(model)
        hint = f"known heads: {known}" if known else "this model has no classification head; register one first"
        raise KeyError(f"no classification head named {name!r} ({hint})")


@torch.inference_mode()
def predict(model, head: str, tokens, return_logits: bool = False) -> torch.Tensor:
    """(B, num_classes) log-probabilities (float32), or raw logits with `return_logits`."""
    _check_head(model, head)
    inputs = _as_batch(model, tokens)
    if head in registered_heads(model):
        features = model(**inputs, run_head=False).last_hidden_state  # (B, T, H)
        logits = registered_heads(model)[head](features)
    else:  # the checkpoint's own sequence-classification head
        logits = model(**inputs).logits  # (B, num_classes)
    logits = logits.float()
    return logits if return_logits else F.log_softmax(logits, dim=-1)

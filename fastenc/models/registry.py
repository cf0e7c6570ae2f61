"""The head registry: every task head, whether it reads each token or each sequence, and which outputs it fills.

The model builds and runs its heads from this table; the checkpoint mapping reads each head's checkpoint names here,
CUDA graphs read which outputs are per token, and the CLI which heads carry label names. A new head is one entry.
"""
from dataclasses import dataclass, field
from typing import Callable

from torch import nn

from ..config import EncoderConfig
from .heads import (DiscriminatorHead, MaskedLMHead, Pooler, QuestionAnsweringHead, SentencePairHead,
                    SequenceClassifier, TokenClassifierHead)


@dataclass(frozen=True)
class HeadSpec:
    name: str  # the model's attribute holding the head, and the prefix of its parameter names
    per_token: bool  # True: runs on every token, (N, H) -> (N, ...); False: on each sequence, (B, H) -> (B, ...)
    fields: tuple  # the EncoderOutput fields it fills, in the order its outputs come
    wanted: Callable[[EncoderConfig, bool], bool]  # (config, checkpoint has pooler weights) -> the model builds it
    build: Callable[[EncoderConfig], nn.Module]
    # family -> {our name under the head: checkpoint name}. A name ending in .weight/.bias is one tensor ("a|b": the
    # first present wins); any other names a module whose .weight and .bias both map.
    checkpoint: dict = field(default_factory=dict)
    task_fields: dict = field(default_factory=dict)  # task -> fields, where a task reads the output under other names
    labelled: bool = False  # its classes are named by config.id2label
    # Its per-token output is vocabulary-wide (MLM logits: ~50x the hidden state): CUDA graphs run it on each replay's
    # real corner instead of keeping a bucket-sized copy in every graph's static memory.
    vocabulary_wide: bool = False

    def fields_for(self, task: str) -> tuple:
        return self.task_fields.get(task, self.fields)


def _for_tasks(*tasks):
    return lambda config, has_pooler: config.task in tasks


def _bert_pretraining(*tasks):
    """For these tasks, except ELECTRA's pre-training (the discriminator alone, not BERT's pre-training heads)."""
    return lambda config, has_pooler: config.task in tasks and not (config.family == "electra"
                                                                     and config.task == "pretraining")


def _pooler_wanted(config: EncoderConfig, has_pooler: bool) -> bool:
    """BERT/ALBERT heads on the pooler need it; otherwise it is kept when the checkpoint has it. DistilBERT has none."""
    if config.family in ("distilbert", "electra"):
        return False
    needed = config.task in ("pretraining", "next_sentence") or (
        config.task == "sequence_classification"
        and config.family in ("bert", "albert", "deberta-v2", "gte", "nomic_bert"))
    return needed or has_pooler


# families whose heads share names
FAMILY_NAMES = ("bert", "roberta", "distilbert", "albert", "deberta-v2", "electra", "mpnet")

# In the order they run: the pooler first, since the sequence heads after it may read its output.
HEADS = (
    HeadSpec("pooler", per_token=False, fields=("pooler_output",), wanted=_pooler_wanted, build=Pooler,
             checkpoint={"bert": {"dense": "pooler.dense"}, "roberta": {"dense": "pooler.dense"},
                         "albert": {"dense": "pooler"}, "deberta-v2": {"dense": "pooler.dense"},
                         "gte": {"dense": "pooler.dense"}, "nomic_bert": {"dense": "pooler.dense"},
                         "mpnet": {"dense": "pooler.dense"}}),
    HeadSpec("mlm", per_token=True, fields=("logits",), wanted=_bert_pretraining("masked_lm", "pretraining"),
             build=MaskedLMHead, vocabulary_wide=True,
             checkpoint={
                 "bert": {"transform": "cls.predictions.transform.dense", "norm": "cls.predictions.transform.LayerNorm",
                          "decoder": "cls.predictions.decoder.weight",
                          "bias": "cls.predictions.decoder.bias|cls.predictions.bias"},
                 "roberta": {"transform": "lm_head.dense", "norm": "lm_head.layer_norm",
                             "decoder": "lm_head.decoder.weight", "bias": "lm_head.decoder.bias|lm_head.bias"},
                 "distilbert": {"transform": "vocab_transform", "norm": "vocab_layer_norm",
                                "decoder": "vocab_projector.weight", "bias": "vocab_projector.bias"},
                 "albert": {"transform": "predictions.dense", "norm": "predictions.LayerNorm",
                            "decoder": "predictions.decoder.weight",
                            "bias": "predictions.decoder.bias|predictions.bias"},
                 # transformers' legacy head (cls.predictions) or, with legacy=false, lm_predictions (no decoder:
                 # always the word embeddings). Neither is the paper's enhanced mask decoder: transformers has none.
                 "deberta-v2": {"transform": "cls.predictions.transform.dense|lm_predictions.lm_head.dense",
                                "norm": "cls.predictions.transform.LayerNorm|lm_predictions.lm_head.LayerNorm",
                                "decoder": "cls.predictions.decoder.weight",
                                "bias": "cls.predictions.decoder.bias|cls.predictions.bias"
                                        "|lm_predictions.lm_head.bias"},
                 "electra": {"transform": "generator_predictions.dense", "norm": "generator_predictions.LayerNorm",
                             "decoder": "generator_lm_head.weight", "bias": "generator_lm_head.bias"},
                 "gte": {"transform": "lm_head.dense", "norm": "lm_head.norm|lm_head.layer_norm",
                         "decoder": "lm_head.decoder.weight", "bias": "lm_head.decoder.bias"},
                 "nomic_bert": {"transform": "cls.predictions.transform.dense",
                                "norm": "cls.predictions.transform.layer_norm",
                                "decoder": "cls.predictions.decoder.weight",
                                "bias": "cls.predictions.decoder.bias|cls.predictions.bias"},
                 "mpnet": {"transform": "lm_head.dense", "norm": "lm_head.layer_norm",
                           "decoder": "lm_head.decoder.weight", "bias": "lm_head.decoder.bias|lm_head.bias"},
             }),
    HeadSpec("sentence_pair", per_token=False, fields=("seq_relationship_logits",),
             task_fields={"next_sentence": ("logits",)}, wanted=_bert_pretraining("pretraining", "next_sentence"),
             build=SentencePairHead,
             checkpoint={"bert": {"": "cls.seq_relationship"}, "albert": {"": "sop_classifier.classifier"}}),
    HeadSpec("discriminator", per_token=True, fields=("logits",), build=DiscriminatorHead,
             wanted=lambda config, has_pooler: config.family == "electra" and config.task == "pretraining",
             checkpoint={"electra": {"dense": "discriminator_predictions.dense",
                                     "out": "discriminator_predictions.dense_prediction"}}),
    HeadSpec("classifier", per_token=False, fields=("logits",), wanted=_for_tasks("sequence_classification"),
             build=lambda config: SequenceClassifier(config, config.num_labels), labelled=True,
             checkpoint={"bert": {"out": "classifier"}, "albert": {"out": "classifier"},
                         "deberta-v2": {"out": "classifier"}, "gte": {"out": "classifier"},
                         "electra": {"dense": "classifier.dense", "out": "classifier.out_proj"},
                         "roberta": {"dense": "classifier.dense", "out": "classifier.out_proj"},
                         "distilbert": {"dense": "pre_classifier", "out": "classifier"},
                         "nomic_bert": {"out": "classifier"},
                         "mpnet": {"dense": "classifier.dense", "out": "classifier.out_proj"}}),
    HeadSpec("token_classifier", per_token=True, fields=("logits",), wanted=_for_tasks("token_classification"),
             build=TokenClassifierHead, labelled=True,
             checkpoint={family: {"": "classifier"} for family in (*FAMILY_NAMES, "gte", "nomic_bert")}),
    HeadSpec("qa", per_token=True, fields=("start_logits", "end_logits"), wanted=_for_tasks("question_answering"),
             build=QuestionAnsweringHead,
             checkpoint={family: {"": "qa_outputs"} for family in FAMILY_NAMES}),
)
BY_NAME = {spec.name: spec for spec in HEADS}


def heads_for(config: EncoderConfig, has_pooler: bool = False) -> list:
    """The specs of the heads a model of this config builds, in running order."""
    return [spec for spec in HEADS if spec.wanted(config, has_pooler)]


def per_token_fields(config: EncoderConfig) -> set:
    """Output fields shaped like the tokens (besides the hidden states) for this config's task."""
    return {f for spec in HEADS if spec.per_token and spec.wanted(config, True) for f in spec.fields_for(config.task)}


def label_names(config: EncoderConfig) -> list:
    """Names of the checkpoint's classes in index order: config.id2label, LABEL_i where it names none."""
    return [config.id2label.get(i, f"LABEL_{i}") for i in range(config.num_labels)]


def has_labels(config: EncoderConfig) -> bool:
    """Whether the config's task runs a head whose classes carry label names."""
    return any(spec.labelled and spec.wanted(config, False) for spec in HEADS)

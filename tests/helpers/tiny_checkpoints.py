"""Tiny random Hugging Face checkpoints of every family and head, written in the layouts real repositories use.

transformers is the reference here (and only in tests): it builds the model, saves it, and runs it for comparison.
"""
import json
from pathlib import Path

import pytest
import torch
import transformers

# Small shapes chosen to be awkward: head dims 16/32/48, hidden sizes that are not powers of two.
FAMILY_CONFIGS = {
    "bert": ("BertConfig", dict(
        vocab_size=101, hidden_size=48, num_hidden_layers=2, num_attention_heads=3, intermediate_size=37,
        max_position_embeddings=40, type_vocab_size=3)),
    "roberta": ("RobertaConfig", dict(
        vocab_size=103, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=50,
        max_position_embeddings=42, pad_token_id=1, bos_token_id=0, eos_token_id=2)),
    "xlm-roberta": ("XLMRobertaConfig", dict(
        vocab_size=97, hidden_size=96, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=34, pad_token_id=1, bos_token_id=0, eos_token_id=2)),
    "camembert": ("CamembertConfig", dict(
        vocab_size=89, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=40,
        max_position_embeddings=30, pad_token_id=1, bos_token_id=0, eos_token_id=2)),
    "distilbert": ("DistilBertConfig", dict(
        vocab_size=99, dim=48, n_layers=2, n_heads=3, hidden_dim=70, max_position_embeddings=36)),
    "albert": ("AlbertConfig", dict(
        vocab_size=91, embedding_size=24, hidden_size=64, num_hidden_layers=4, num_hidden_groups=2,
        inner_group_num=2, num_attention_heads=4, intermediate_size=72, max_position_embeddings=38)),
    # Window 4 (local_attention 8) is shorter than most test batches; three layers: global, local, global.
    "modernbert": ("ModernBertConfig", dict(
        vocab_size=103, hidden_size=48, num_hidden_layers=3, num_attention_heads=3, intermediate_size=37,
        max_position_embeddings=40, local_attention=8, global_attn_every_n_layers=2, pad_token_id=1,
        bos_token_id=2, eos_token_id=3, cls_token_id=2, sep_token_id=3)),
    # DeBERTa-v3's layout (relative attention only, shared keys, normed relative embeddings) with 8 position
    # buckets, which do not cover the longer inputs: distances beyond 4 are log-bucketed.
    "deberta-v2": ("DebertaV2Config", dict(
        vocab_size=95, hidden_size=64, num_hidden_layers=3, num_attention_heads=2, intermediate_size=45,
        max_position_embeddings=36, type_vocab_size=0, relative_attention=True, position_buckets=8,
        max_relative_positions=-1, pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm",
        position_biased_input=False)),
    # ELECTRA-small's layout: embeddings narrower than the hidden size, projected up.
    "electra": ("ElectraConfig", dict(
        vocab_size=93, embedding_size=24, hidden_size=48, num_hidden_layers=3, num_attention_heads=3,
        intermediate_size=41, max_position_embeddings=34, type_vocab_size=2)),
    # gte-large-en-v1.5's layout (two token types, pad 0) with a small RoPE base, so that 40 positions turn every
    # frequency pair by a visible angle.
    "gte": ("GteConfig", dict(
        vocab_size=97, hidden_size=48, num_hidden_layers=3, num_attention_heads=3, intermediate_size=37,
        max_position_embeddings=40, type_vocab_size=2, pad_token_id=0,
        rope_parameters={"rope_type": "default", "rope_theta": 500.0})),
    # NomicBERT: RoPE with a non-default base, SwiGLU; three token types, odd widths, three layers.
    "nomic_bert": ("NomicBertConfig", dict(
        vocab_size=97, hidden_size=48, num_hidden_layers=3, num_attention_heads=3, intermediate_size=37,
        max_position_embeddings=36, type_vocab_size=3, rope_parameters={"rope_type": "default", "rope_theta": 500.0})),
    # Inputs up to 38 tokens: distances past the 8 exact buckets fall in the log buckets (12, 16, 23, 32 start new
    # ones); three layers share the one bias table.
    "mpnet": ("MPNetConfig", dict(
        vocab_size=97, hidden_size=48, num_hidden_layers=3, num_attention_heads=3, intermediate_size=37,
        max_position_embeddings=40, pad_token_id=1, bos_token_id=0, eos_token_id=2)),
}
CLASS_PREFIX = {"bert": "Bert", "roberta": "Roberta", "xlm-roberta": "XLMRoberta", "camembert": "Camembert",
                "distilbert": "DistilBert", "albert": "Albert", "modernbert": "ModernBert", "deberta-v2": "DebertaV2",
                "electra": "Electra", "gte": "Gte",
                "nomic_bert": "NomicBert", "mpnet": "MPNet"}
HEADS = {
    "bert": ["Model", "ForMaskedLM", "ForPreTraining", "ForNextSentencePrediction", "ForSequenceClassification",
             "ForTokenClassification", "ForQuestionAnswering"],
    "roberta": ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering"],
    "xlm-roberta": ["Model", "ForMaskedLM", "ForSequenceClassification"],
    "camembert": ["Model", "ForMaskedLM", "ForTokenClassification"],
    "distilbert": ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                   "ForQuestionAnswering"],
    "albert": ["Model", "ForMaskedLM", "ForPreTraining", "ForSequenceClassification", "ForTokenClassification",
               "ForQuestionAnswering"],
    "modernbert": ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                   "ForQuestionAnswering"],
    "deberta-v2": ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                   "ForQuestionAnswering"],
    "electra": ["Model", "ForPreTraining", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification",
                "ForQuestionAnswering"],
    "gte": ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification"],
    "nomic_bert": ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification"],
    "mpnet": ["Model", "ForMaskedLM", "ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering"],
}
ALL = [(family, head) for family, heads in HEADS.items() for head in heads]
# One family per model implementation (XLM-R and CamemBERT run RoBERTa's): what the device checks cover.
IMPLEMENTATIONS = ("bert", "roberta", "distilbert", "albert", "modernbert", "deberta-v2", "electra", "gte",
                   "nomic_bert", "mpnet")


def has_family(family: str) -> bool:
    """Whether the installed transformers has the family (5.17, the GPU image's, has no GteConfig)."""
    return hasattr(transformers, FAMILY_CONFIGS[family][0])


def require_family(family: str) -> type:
    """The family's transformers config class; skips the test where the installed transformers lacks the family:
    there is no reference to compare with there (tests/helpers/stored_references.py carries one for the GPU)."""
    name = FAMILY_CONFIGS[family][0]
    if not has_family(family):
        pytest.skip(f"transformers {transformers.__version__} has no {name}: no reference for {family}")
    return getattr(transformers, name)


def build(family: str, head: str = "Model", seed: int = 0, num_labels: int = 5, **config_overrides):
    """A randomly initialised transformers model in eval mode (weights scaled up so errors are not hidden);
    classifiers get `num_labels` labels named LABEL_i."""
    torch.manual_seed(seed)
    config_class, defaults = require_family(family), FAMILY_CONFIGS[family][1]
    config = config_class(**{**defaults, **config_overrides})
    if head in ("ForSequenceClassification", "ForTokenClassification"):
        config.num_labels = num_labels
        config.id2label = {i: f"LABEL_{i}" for i in range(num_labels)}
        config.label2id = {v: k for k, v in config.id2label.items()}
    model = getattr(transformers, CLASS_PREFIX[family] + head)(config).eval()
    with torch.no_grad():  # std 0.02 init makes every layer nearly the identity; wider weights test more
        for name, p in model.named_parameters():
            if p.dim() == 2 and "embeddings" not in name:
                p.normal_(0.0, 0.15)
            elif "bias" in name:
                p.normal_(0.0, 0.1)
    return model


def save(model, folder: Path, layout: str = "safetensors") -> Path:
    """Write `model` to `folder` as a hub repository would hold it.

    layouts: "safetensors" (model.safetensors), "sharded" (model.safetensors.index.json + shards),
    "legacy_bin" (pytorch_model.bin with LayerNorm gamma/beta names, tied decoder and position_ids stored).
    """
    folder = Path(folder)
    if layout == "safetensors":
        model.save_pretrained(folder)
    elif layout == "sharded":
        model.save_pretrained(folder, max_shard_size="20KB")
        assert (folder / "model.safetensors.index.json").is_file()
    elif layout == "legacy_bin":
        model.save_pretrained(folder)
        (folder / "model.safetensors").unlink()
        state = {}
        for name, tensor in model.state_dict().items():  # state_dict keeps tied and buffer entries, as old saves did
            name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
            state[name] = tensor.clone()
        for name, buf in model.named_buffers():
            state.setdefault(name, buf.clone())
        torch.save(state, folder / "pytorch_model.bin")
    else:
        raise ValueError(layout)
    return folder


def rewrite_config(folder: Path, **changes) -> None:
    path = Path(folder) / "config.json"
    raw = json.loads(path.read_text())
    raw.update(changes)
    path.write_text(json.dumps(raw))


def padded_batch(vocab_size: int, lengths, pad_id: int, seed: int = 0):
    """(input_ids, attention_mask) of random ids >= 5 (clear of the special and pad ids) padded on the right."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), max(lengths)), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, n in enumerate(lengths):
        ids[row, :n] = torch.randint(5, vocab_size, (n,), generator=g)
        mask[row, :n] = 1
    return ids, mask

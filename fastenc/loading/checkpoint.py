"""Map a Hugging Face checkpoint's tensor names onto ours, fusing Q/K/V and checking every shape on the way.

Our parameter name -> the checkpoint name(s) it comes from. Several names joined along dim 0 (Q, K, V -> qkv);
alternatives separated by "|", first present wins (the decoder applies `decoder.bias`; checkpoints that tie it to
the head's `bias` store only the latter).
"""
import logging

import torch

from ..config import EncoderConfig
from ..models.bert.embeddings import sinusoidal_table
from ..models.bert.encoder import num_distinct_layers
from ..models.gte import names as gte_names
from ..models.modernbert import names as modernbert_names
from ..models.nomic_bert import names as nomic_bert_names
from ..models.registry import BY_NAME, HEADS
from .weights import WeightsError

log = logging.getLogger(__name__)

BASE_PREFIXES = {"bert": "bert.", "roberta": "roberta.", "distilbert": "distilbert.", "albert": "albert.",
                 "modernbert": "model.", "deberta-v2": "deberta.", "electra": "electra.",
                 "gte": gte_names.BASE_PREFIX, "nomic_bert": "nomic_bert.", "mpnet": "mpnet."}
# Checkpoint names under these belong to the encoder itself: leftovers there mean the checkpoint is not this model.
_ENCODER_NAMESPACES = ("embeddings.", "encoder.", "transformer.")
# Families whose name tables live with their model (fastenc/models/<family>/names.py).
_FAMILY_NAMES = {"modernbert": modernbert_names}
# Families whose checkpoints come in several layouts, brought to one (the one their tables name) before mapping.
_RENAMES = {"gte": gte_names.rename}
# Buffers that some transformers versions saved; they are recomputed, never read.
_BUFFERS = ("embeddings.position_ids", "embeddings.token_type_ids")

_EMBEDDINGS = {
    "embeddings.word.weight": "embeddings.word_embeddings.weight",
    "embeddings.position.weight": "embeddings.position_embeddings.weight",
    "embeddings.token_type.weight": "embeddings.token_type_embeddings.weight",
    "embeddings.norm.weight": "embeddings.LayerNorm.weight",
    "embeddings.norm.bias": "embeddings.LayerNorm.bias",
}

# Per family: the checkpoint name of each part of layer {i} (ours on the left), then the head names.
_LAYER_PARTS = {
    "bert": {
        "qkv": ["encoder.layer.{i}.attention.self.query", "encoder.layer.{i}.attention.self.key",
                "encoder.layer.{i}.attention.self.value"],
        "attn_out": "encoder.layer.{i}.attention.output.dense",
        "attn_norm": "encoder.layer.{i}.attention.output.LayerNorm",
        "ffn_in": "encoder.layer.{i}.intermediate.dense",
        "ffn_out": "encoder.layer.{i}.output.dense",
        "ffn_norm": "encoder.layer.{i}.output.LayerNorm",
    },
    "distilbert": {
        "qkv": ["transformer.layer.{i}.attention.q_lin", "transformer.layer.{i}.attention.k_lin",
                "transformer.layer.{i}.attention.v_lin"],
        "attn_out": "transformer.layer.{i}.attention.out_lin",
        "attn_norm": "transformer.layer.{i}.sa_layer_norm",
        "ffn_in": "transformer.layer.{i}.ffn.lin1",
        "ffn_out": "transformer.layer.{i}.ffn.lin2",
        "ffn_norm": "transformer.layer.{i}.output_layer_norm",
    },
    "albert": {  # {i} is "{group}.albert_layers.{inner}"
        "qkv": ["encoder.albert_layer_groups.{i}.attention.query", "encoder.albert_layer_groups.{i}.attention.key",
                "encoder.albert_layer_groups.{i}.attention.value"],
        "attn_out": "encoder.albert_layer_groups.{i}.attention.dense",
        "attn_norm": "encoder.albert_layer_groups.{i}.attention.LayerNorm",
        "ffn_in": "encoder.albert_layer_groups.{i}.ffn",
        "ffn_out": "encoder.albert_layer_groups.{i}.ffn_output",
        "ffn_norm": "encoder.albert_layer_groups.{i}.full_layer_layer_norm",
    },
}
_LAYER_PARTS["roberta"] = _LAYER_PARTS["electra"] = _LAYER_PARTS["bert"]
_LAYER_PARTS["gte"] = gte_names.LAYER_PARTS
_LAYER_PARTS["deberta-v2"] = {  # pos_key / pos_query exist only without share_att_key, for the terms that run
    "qkv": ["encoder.layer.{i}.attention.self.query_proj", "encoder.layer.{i}.attention.self.key_proj",
            "encoder.layer.{i}.attention.self.value_proj"],
    "pos_key": "encoder.layer.{i}.attention.self.pos_key_proj",
    "pos_query": "encoder.layer.{i}.attention.self.pos_query_proj",
    **{ours: theirs for ours, theirs in _LAYER_PARTS["bert"].items() if ours != "qkv"},
}
_LAYER_PARTS["mpnet"] = {
    "qkv": ["encoder.layer.{i}.attention.attn.q", "encoder.layer.{i}.attention.attn.k",
            "encoder.layer.{i}.attention.attn.v"],
    "attn_out": "encoder.layer.{i}.attention.attn.o",
    "attn_norm": "encoder.layer.{i}.attention.LayerNorm",
    **{ours: theirs for ours, theirs in _LAYER_PARTS["bert"].items() if ours in ("ffn_in", "ffn_out", "ffn_norm")},
}

_LAYER_PARTS["nomic_bert"] = nomic_bert_names.LAYER_PARTS
# Families whose checkpoints come in a second layout, renamed to transformers' names before anything else.
_LAYOUTS = {"nomic_bert": nomic_bert_names.from_hub_layout}
# Families whose encoder tensors live under other names than _ENCODER_NAMESPACES (leftovers there are errors).
_NAMESPACES = {"nomic_bert": nomic_bert_names.ENCODER_NAMESPACES}

# Modules outside the layers that only some families have (the heads' names live in fastenc.models.registry).
_EXTRAS = {
    "albert": {"encoder.project_in": "encoder.embedding_hidden_mapping_in"},
    "electra": {"encoder.project_in": "embeddings_project"},
    "deberta-v2": {"encoder.rel_norm": "encoder.LayerNorm", "encoder.conv.conv": "encoder.conv.conv",
                   "encoder.conv.norm": "encoder.conv.LayerNorm"},
}
# Single tensors outside the layers (modules without a bias).
_EXTRA_TENSORS = {
    "deberta-v2": {"embeddings.project.weight": "embeddings.embed_proj.weight",
                   "encoder.rel_embeddings.weight": "encoder.rel_embeddings.weight"},
    "mpnet": {"encoder.relative_attention_bias.weight": "encoder.relative_attention_bias.weight"},
}


def normalise_names(tensors: dict, config: EncoderConfig) -> dict:
    """Drop the base-model prefix (`bert.` ...), rename legacy `gamma`/`beta`, drop saved buffers."""
    prefix = BASE_PREFIXES[config.family]
    if config.family in _LAYOUTS:
        tensors = _LAYOUTS[config.family](tensors)
    out = {}
    for name, tensor in tensors.items():
        if name.startswith(prefix):
            name = name[len(prefix):]
        if name.endswith(".gamma"):
            name = name[: -len("gamma")] + "weight"
        elif name.endswith(".beta"):
            name = name[: -len("beta")] + "bias"
        if name.endswith(_BUFFERS):
            continue
        if name == "embeddings.position_embeddings.weight" and _unused_positions(config):
            log.debug("ignoring %r: position_biased_input is false", name)  # transformers ignores it too
            continue
        out[name] = tensor
    rename = _RENAMES.get(config.family)
    return rename(out) if rename else out


def _unused_positions(config: EncoderConfig) -> bool:
    """DeBERTa checkpoints without absolute positions in the input may still store a position table."""
    return config.deberta is not None and not config.deberta.position_biased_input


def has_pooler(tensors: dict, config: EncoderConfig) -> bool:
    """Whether the (normalised) checkpoint carries pooler weights; the pooler is optional unless a head needs it."""
    source = BY_NAME["pooler"].checkpoint.get(config.family, {}).get("dense")
    return source is not None and f"{source}.weight" in tensors


def source_names(config: EncoderConfig) -> dict:
    """Our parameter name -> checkpoint name template (a list for fused tensors, "a|b" for alternatives)."""
    if config.family in _FAMILY_NAMES:
        return _FAMILY_NAMES[config.family].source_names(config)
    table = dict(_EMBEDDINGS)
    parts = _LAYER_PARTS[config.family]
    for index in range(num_distinct_layers(config)):
        if config.family == "albert":
            group, inner = divmod(index, config.inner_group_num)
            fill = f"{group}.albert_layers.{inner}"
        else:
            fill = str(index)
        for ours, theirs in parts.items():
            for p in ("weight", "bias"):
                if isinstance(theirs, list):
                    table[f"encoder.layers.{index}.{ours}.{p}"] = [f"{t.format(i=fill)}.{p}" for t in theirs]
                else:
                    table[f"encoder.layers.{index}.{ours}.{p}"] = f"{theirs.format(i=fill)}.{p}"
    modules = dict(_EXTRAS.get(config.family, {}))
    for spec in HEADS:
        for part, theirs in spec.checkpoint.get(config.family, {}).items():
            ours = f"{spec.name}.{part}" if part else spec.name
            if all(name.endswith((".weight", ".bias")) for name in theirs.split("|")):
                table[ours] = theirs  # one tensor (a raw Parameter of the head)
            else:
                modules[ours] = theirs
    for ours, theirs in modules.items():  # "a|b": the first module present wins, for both tensors
        for p in ("weight", "bias"):
            table[f"{ours}.{p}"] = "|".join(f"{name}.{p}" for name in theirs.split("|"))
    table.update(_EXTRA_TENSORS.get(config.family, {}))
    return table


def convert(tensors: dict, config: EncoderConfig, expected: dict, dtype, device) -> dict:
    """Build our state dict from the normalised checkpoint `tensors`.

    `expected` maps each of our parameter names to its shape. Tensors are popped from `tensors` as they are used and
    cast one at a time, so the checkpoint is never held twice. Raises WeightsError listing every problem found.
    """
    table = source_names(config)
    problems, state, used = [], {}, set()

    def take(name: str, shape: torch.Size):
        candidates = [n for n in name.split("|") if n in tensors]
        if not candidates:
            problems.append(f"missing tensor {name.split('|')[0]!r} (expected shape {tuple(shape)})")
            return None
        used.update(n for n in name.split("|") if n in tensors)
        tensor = tensors[candidates[0]]
        if tuple(tensor.shape) != tuple(shape):
            problems.append(
                f"tensor {candidates[0]!r} has shape {tuple(tensor.shape)}, expected {tuple(shape)}"
            )
            return None
        return tensor

    for ours, shape in expected.items():
        if ours == "mlm.decoder" and config.tie_word_embeddings:
            continue  # shares the word embeddings, set below
        if ours == "embeddings.position.weight" and config.sinusoidal_positions and table[ours] not in tensors:
            state[ours] = sinusoidal_table(*shape).to(device=device, dtype=dtype)
            continue
        source = table.get(ours)
        if source is None:
            raise AssertionError(f"no checkpoint name for parameter {ours!r}")  # a bug in the tables above
        if isinstance(source, list):  # fused along dim 0: each part is a third of our rows
            part_shape = torch.Size([shape[0] // len(source), *shape[1:]])
            parts = [take(name, part_shape) for name in source]
            if all(p is not None for p in parts):
                state[ours] = torch.cat(parts, dim=0).to(device=device, dtype=dtype)
        else:
            tensor = take(source, shape)
            if tensor is not None:
                state[ours] = tensor.to(device=device, dtype=dtype)
        for name in used:
            tensors.pop(name, None)  # release the checkpoint's copy as soon as ours exists
        used.clear()

    if "mlm.decoder" in expected and config.tie_word_embeddings and "embeddings.word.weight" in state:
        state["mlm.decoder"] = state["embeddings.word.weight"]
        tensors.pop(table["mlm.decoder"], None)

    leftovers = sorted(tensors)
    family = _FAMILY_NAMES.get(config.family)
    namespaces = family.ENCODER_NAMESPACES if family else _NAMESPACES.get(config.family, _ENCODER_NAMESPACES)
    unexpected = [n for n in leftovers if n.startswith(namespaces)]
    for name in unexpected:
        problems.append(f"unexpected tensor {name!r} with shape {tuple(tensors[name].shape)}")
    ignored = [n for n in leftovers if n not in unexpected]
    if ignored:
        log.debug("ignoring %d tensors of heads this model does not run: %s", len(ignored), ignored)
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise WeightsError(
            f"checkpoint does not match a {config.model_type} model ({config.task}):\n  {shown}{more}"
        )
    return state

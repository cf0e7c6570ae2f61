"""ModernBERT's checkpoint names: our parameter name -> transformers' (the base model's `model.` prefix removed).

fastenc.loading.checkpoint reads this table for the modernbert family; Wqkv is stored fused already, so every entry
is one tensor. Entries for biases the config turns off are never asked for.
"""
from ...config import EncoderConfig
from .heads import CHECKPOINT_NAMES

# Checkpoint names under these belong to the encoder itself: leftovers there mean the checkpoint is not this model.
ENCODER_NAMESPACES = ("embeddings.", "layers.", "final_norm.")

_LAYER = {"attn_norm": "attn_norm", "qkv": "attn.Wqkv", "attn_out": "attn.Wo", "mlp_norm": "mlp_norm",
          "ffn_in": "mlp.Wi", "ffn_out": "mlp.Wo"}


def source_names(config: EncoderConfig) -> dict:
    modules = {"embeddings.word": "embeddings.tok_embeddings", "embeddings.norm": "embeddings.norm",
               "encoder.final_norm": "final_norm"}
    for i in range(config.num_layers):
        modules.update({f"encoder.layers.{i}.{ours}": f"layers.{i}.{theirs}" for ours, theirs in _LAYER.items()})
    table = {}
    for head, names in CHECKPOINT_NAMES.items():
        for ours, theirs in names.items():
            if theirs.endswith((".weight", ".bias")):
                table[f"{head}.{ours}"] = theirs  # a raw Parameter of the head
            else:
                modules[f"{head}.{ours}"] = theirs
    for ours, theirs in modules.items():
        table[f"{ours}.weight"] = f"{theirs}.weight"
        table[f"{ours}.bias"] = f"{theirs}.bias"
    return table

"""GTE's checkpoint names: the layout transformers' `save_pretrained` writes (and the Hub checkpoints hold), as the
original remote code named it: `encoder.layer.{i}.attention.qkv_proj`, `mlp.up_gate_proj`, `attn_ln`, `mlp_ln`.

`rename` brings the variants to that one layout before fastenc.loading.checkpoint maps it: the original code's `new.`
base prefix, Q/K/V stored apart (pack_qkv false), and the MLP's [up; gate] rows reordered to [gate; up], the order in
which the GeGLU op reads them (activation on the first half).
"""
import torch

BASE_PREFIX = "gte."
_ORIGINAL_PREFIX = "new."  # the remote code's base_model_prefix (model_type "new")
_LAYER = "encoder.layer.{i}."
# Our layer parts -> checkpoint names after `rename` (fastenc.loading.checkpoint appends .weight / .bias).
LAYER_PARTS = {
    "qkv": _LAYER + "attention.qkv_proj",
    "attn_out": _LAYER + "attention.o_proj",
    "attn_norm": _LAYER + "attn_ln",
    "ffn_in": _LAYER + "mlp.gate_up_proj",
    "ffn_out": _LAYER + "mlp.down_proj",
    "ffn_norm": _LAYER + "mlp_ln",
}


def rename(tensors: dict) -> dict:
    """The checkpoint's tensors (base prefix already removed) in the layout LAYER_PARTS names."""
    out = {(name[len(_ORIGINAL_PREFIX):] if name.startswith(_ORIGINAL_PREFIX) else name): t
           for name, t in tensors.items()}
    for name in [n for n in out if n.endswith(".attention.q_proj.weight")]:
        stem = name[: -len("q_proj.weight")]
        for p in ("weight", "bias"):
            parts = [f"{stem}{x}_proj.{p}" for x in "qkv"]
            if all(n in out for n in parts):
                out[f"{stem}qkv_proj.{p}"] = torch.cat([out.pop(n) for n in parts], dim=0)  # (3H, ...)
    for name in [n for n in out if n.endswith(".mlp.up_gate_proj.weight")]:
        up, gate = out.pop(name).chunk(2, dim=0)  # (I, H) each: the original splits up first, then gate
        out[name.replace("up_gate_proj", "gate_up_proj")] = torch.cat([gate, up], dim=0)  # (2I, H)
    return out

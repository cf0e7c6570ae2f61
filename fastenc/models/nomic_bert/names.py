"""NomicBERT's checkpoint names: transformers' layer names (ours on the left), and the Hub layout's renamed to them.

transformers' nomic_bert stores separate q/k/v and gate/up projections, which fastenc.loading.checkpoint fuses. The
Hub's nomic-ai checkpoints (contrastors' remote code) store `encoder.layers.{i}.attn.Wqkv`, `mlp.fc11` (up),
`mlp.fc12` (gate), `mlp.fc2`, `norm1`, `norm2` and `emb_ln`: `from_hub_layout` renames them as transformers'
conversion mapping for nomic_bert does, so both layouts load through the one table.
"""
import re

# Checkpoint names under these belong to the encoder itself: leftovers there mean the checkpoint is not this model.
ENCODER_NAMESPACES = ("embeddings.", "layers.")
# Our part of layer {i} -> its transformers name(s); a list is fused along dim 0 in that order.
LAYER_PARTS = {
    "qkv": ["layers.{i}.self_attn.q_proj", "layers.{i}.self_attn.k_proj", "layers.{i}.self_attn.v_proj"],
    "attn_out": "layers.{i}.self_attn.o_proj",
    "attn_norm": "layers.{i}.post_attention_layernorm",
    "ffn_in": ["layers.{i}.mlp.gate_proj", "layers.{i}.mlp.up_proj"],  # act(gate) * up: the gate first
    "ffn_out": "layers.{i}.mlp.down_proj",
    "ffn_norm": "layers.{i}.post_mlp_layernorm",
}
# Hub name pieces -> transformers' (whole dot-separated parts only, so `fc2` never matches inside `fc21`).
_HUB_RENAMES = (("encoder.layers.", "layers."), ("emb_ln.", "embeddings.LayerNorm."),
                ("attn.out_proj.", "self_attn.o_proj."), ("mlp.fc11.", "mlp.up_proj."),
                ("mlp.fc12.", "mlp.gate_proj."), ("mlp.fc2.", "mlp.down_proj."),
                ("norm1.", "post_attention_layernorm."), ("norm2.", "post_mlp_layernorm."))
_WQKV = re.compile(r"^(.*)\.attn\.Wqkv\.(weight|bias)$")


# The Hub's masked-LM head has no biases (they follow mlp_fc1_bias, false in every Nomic checkpoint); transformers
# builds them and initialises them to zero, which is what they become here: name -> the weight whose rows it biases.
_HUB_HEAD_BIASES = {"cls.predictions.transform.dense.bias": "cls.predictions.transform.dense.weight",
                    "cls.predictions.bias": "bert.embeddings.word_embeddings.weight"}


def from_hub_layout(tensors: dict) -> dict:
    """The checkpoint's tensors under transformers' names: Hub-layout names renamed (the fused Wqkv split into three
    views), the Hub's `bert.` base prefix dropped, the masked-LM head's absent biases zero (as transformers loads
    them); a transformers checkpoint passes through unchanged."""
    if not any(name.endswith(".attn.Wqkv.weight") or name.startswith(("emb_ln.", "bert.emb_ln.")) for name in tensors):
        return tensors
    out = {}
    if "cls.predictions.transform.dense.weight" in tensors:
        for bias, weight in _HUB_HEAD_BIASES.items():
            source = tensors.get(weight, tensors.get(weight.removeprefix("bert.")))
            if bias not in tensors and source is not None:
                out[bias] = source.new_zeros(source.shape[0])
    for name, tensor in tensors.items():
        if name.startswith("bert."):
            name = name[len("bert."):]
        match = _WQKV.match(name)
        if match:
            prefix, kind = match.groups()
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), tensor.chunk(3, dim=0)):
                out[_rename(f"{prefix}.self_attn.{part}.{kind}")] = chunk
            continue
        out[_rename(name)] = tensor
    return out


def _rename(name: str) -> str:
    for hub, ours in _HUB_RENAMES:
        name = name.replace(hub, ours) if name.startswith(hub) or f".{hub}" in name else name
    return name

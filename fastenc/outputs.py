"""What a forward pass returns, under the names transformers users know."""
from dataclasses import dataclass

import torch


@dataclass
class EncoderOutput:
    last_hidden_state: torch.Tensor  # (B, T, H)
    pooler_output: torch.Tensor | None = None  # (B, H), families with a pooler
    hidden_states: tuple | None = None  # embeddings + every layer, each (B, T, H), when asked
    attentions: tuple | None = None  # every layer's attention weights, each (B, heads, T, T), when asked
    logits: torch.Tensor | None = None  # the task head: MLM (B, T, V), classification (B, L), tagging (B, T, L)
    seq_relationship_logits: torch.Tensor | None = None  # (B, 2): NSP (BERT) or sentence order (ALBERT) in pre-training
    start_logits: torch.Tensor | None = None  # (B, T), extractive QA
    end_logits: torch.Tensor | None = None  # (B, T), extractive QA
    cu_seqlens: torch.Tensor | None = None  # (B + 1,) int32 offsets, set when per-token outputs come back packed

    def __getitem__(self, key: str):
        return getattr(self, key)

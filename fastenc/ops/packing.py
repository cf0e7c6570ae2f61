"""Padding-free batches: keep only real tokens, packed back to back, and the bookkeeping to put them back.

Computed once per batch from the attention mask on the CPU, then moved to the model's device; every layer works on
(N, H) packed tokens and attention runs in variable-length mode: no FLOPs spent on padding.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class Packing:
    indices: torch.Tensor  # (N,) positions of the real tokens in the flattened (B * T) batch
    cu_seqlens: torch.Tensor  # (B + 1,) int32 offsets of each sequence in the packed tokens
    max_seqlen: int  # longest real length in the batch
    batch: int
    seqlen: int

    @classmethod
    def from_mask(cls, attention_mask: torch.Tensor) -> "Packing":
        """attention_mask: (B, T), nonzero = real token. Holes in a row are allowed: the row's real tokens pack
        together and attend to each other only, which is what key-padding masking computes for them."""
        B, T = attention_mask.shape
        keep = attention_mask.reshape(-1) != 0  # (B * T,)
        lengths = (attention_mask != 0).sum(dim=1, dtype=torch.int32)  # (B,)
        return cls(
            indices=keep.nonzero().squeeze(1),
            cu_seqlens=F.pad(torch.cumsum(lengths, dim=0, dtype=torch.int32), (1, 0)),
            max_seqlen=int(lengths.max()),
            batch=B,
            seqlen=T,
        )

    def to(self, device) -> "Packing":
        return Packing(self.indices.to(device, non_blocking=True), self.cu_seqlens.to(device, non_blocking=True),
                       self.max_seqlen, self.batch, self.seqlen)

    @property
    def attention_args(self) -> dict:
        return {"cu_seqlens": self.cu_seqlens, "max_seqlen": self.max_seqlen}

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, ...) -> (N, ...)"""
        return x.reshape(self.batch * self.seqlen, *x.shape[2:]).index_select(0, self.indices)

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (B, T, ...) with zeros at padded positions."""
        out = x.new_zeros(self.batch * self.seqlen, *x.shape[1:])
        out.index_copy_(0, self.indices, x)
        return out.view(self.batch, self.seqlen, *x.shape[1:])

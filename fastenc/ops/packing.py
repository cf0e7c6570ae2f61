"""The packed batch, fastenc's one internal format: real tokens back to back with their sequence offsets.

Built on the host straight from the tokenizer's flat arrays (no per-row lists, no padding step), moved to the model's
device once. Every layer works on (N, H) packed tokens and attention runs in variable-length mode, so no FLOP is
spent on padding. `Packing` is the bookkeeping of the one place padding still exists: the user-facing padded call
`model(input_ids, attention_mask)`, which packs its input and re-pads its output.
"""
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..inputs import to_model_device


@dataclass
class PackedBatch:
    input_ids: torch.Tensor  # (N,) int64 token ids of B sequences, back to back
    position_ids: torch.Tensor  # (N,) int64 positions, numbered as the model family numbers them
    token_type_ids: torch.Tensor | None  # (N,) int64, or None for models without token types
    cu_seqlens: torch.Tensor  # (B + 1,) int32 offsets: sequence i is tokens cu_seqlens[i]:cu_seqlens[i + 1]
    max_seqlen: int  # longest sequence, known on the host so attention needs no device sync
    host_cu_seqlens: np.ndarray  # (B + 1,) int64 host copy of cu_seqlens, for bookkeeping without device syncs

    @classmethod
    def from_arrays(cls, input_ids, cu_seqlens, position_ids, token_type_ids=None) -> "PackedBatch":
        """From host arrays (NumPy or CPU tensors); shares their memory where the dtype already fits."""
        host_cu = np.asarray(cu_seqlens, dtype=np.int64)
        lengths = np.diff(host_cu)
        return cls(
            input_ids=_long(input_ids),
            position_ids=_long(position_ids),
            token_type_ids=None if token_type_ids is None else _long(token_type_ids),
            cu_seqlens=torch.from_numpy(host_cu.astype(np.int32)),
            max_seqlen=int(lengths.max()) if len(lengths) else 0,
            host_cu_seqlens=host_cu,
        )

    @property
    def num_rows(self) -> int:
        return len(self.host_cu_seqlens) - 1

    @property
    def num_tokens(self) -> int:
        return int(self.host_cu_seqlens[-1])

    @property
    def lengths(self) -> np.ndarray:
        """(B,) tokens per sequence, on the host."""
        return np.diff(self.host_cu_seqlens)

    def to(self, device) -> "PackedBatch":
        """The batch on `device`, copied once (from pinned memory, without blocking the host, when that is CUDA)."""
        moved = to_model_device(torch.device(device), self.input_ids, self.position_ids, self.token_type_ids,
                                self.cu_seqlens)
        return PackedBatch(*moved, self.max_seqlen, self.host_cu_seqlens)

    def first_tokens(self) -> torch.Tensor:
        """(B,) index of each sequence's first token in the packed tokens."""
        return self.cu_seqlens[:-1].long()

    def sequence_index(self) -> torch.Tensor:
        """(N,) the sequence each token belongs to, on the batch's device, without a host sync."""
        lengths = (self.cu_seqlens[1:] - self.cu_seqlens[:-1]).long()  # (B,)
        rows = torch.arange(self.num_rows, device=self.cu_seqlens.device)
        return torch.repeat_interleave(rows, lengths, output_size=self.num_tokens)


def _long(array) -> torch.Tensor:
    tensor = array if isinstance(array, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(array))
    return tensor.long()


def row_positions(cu_seqlens: np.ndarray) -> np.ndarray:
    """(N,) each token's position inside its own sequence: 0, 1, ... restarting at every offset."""
    lengths = np.diff(cu_seqlens)
    return np.arange(int(cu_seqlens[-1]), dtype=np.int64) - np.repeat(cu_seqlens[:-1], lengths)


def gather_rows(cu_seqlens: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The flat token index of sequences `rows` (in that order) and their own (len(rows) + 1,) offsets.

    `flat[index]` is the packed batch of those rows for any per-token array `flat` laid out by `cu_seqlens`: one NumPy
    gather, no loop over rows or tokens.
    """
    starts = cu_seqlens[rows]  # (b,)
    lengths = cu_seqlens[rows + 1] - starts  # (b,)
    sub_cu = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=sub_cu[1:])
    index = np.arange(int(sub_cu[-1]), dtype=np.int64) + np.repeat(starts - sub_cu[:-1], lengths)  # (n,)
    return index, sub_cu


@dataclass
class Packing:
    """Where the real tokens of a padded (B, T) batch sit, to pack its tensors and re-pad the outputs."""

    indices: torch.Tensor  # (N,) positions of the real tokens in the flattened (B * T) batch
    cu_seqlens: torch.Tensor  # (B + 1,) int32 offsets of each sequence in the packed tokens
    max_seqlen: int  # longest real length in the batch
    batch: int
    seqlen: int
    _moved: dict = field(default_factory=dict, repr=False)  # device -> indices there

    @classmethod
    def from_mask(cls, attention_mask: torch.Tensor) -> "Packing":
        """attention_mask: (B, T) on the host, nonzero = real token. Holes in a row are allowed: the row's real tokens
        pack together and attend to each other only, which is what key-padding masking computes for them."""
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

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, ...) -> (N, ...)"""
        return x.reshape(self.batch * self.seqlen, *x.shape[2:]).index_select(0, self._indices_on(x.device))

    def unpack(self, x: torch.Tensor) -> torch.Tensor:
        """(N, ...) -> (B, T, ...) with zeros at padded positions."""
        out = x.new_zeros(self.batch * self.seqlen, *x.shape[1:])
        out.index_copy_(0, self._indices_on(x.device), x)
        return out.view(self.batch, self.seqlen, *x.shape[1:])

    def _indices_on(self, device) -> torch.Tensor:
        """The indices on `device`, moved once per device without blocking the host: a plain `.to` from pageable
        memory would wait for the model's queued work before each output could be re-padded."""
        if self.indices.device == device:
            return self.indices
        if device not in self._moved:
            self._moved[device] = to_model_device(device, self.indices)[0]
        return self._moved[device]

    def packed_batch(self, input_ids, position_ids, token_type_ids) -> PackedBatch:
        """The padded (B, T) host tensors as a PackedBatch (positions already numbered in the padded layout)."""
        return PackedBatch.from_arrays(self.pack(input_ids), self.cu_seqlens.numpy(), self.pack(position_ids),
                                       None if token_type_ids is None else self.pack(token_type_ids))

"""The BERT-family encoder as a pure tensor module: packed ids -> embeddings -> layers -> heads -> outputs.

`forward_packed(PackedBatch)` is the data path. `forward(input_ids, attention_mask)` is the user-facing padded call:
it packs its (B, T) input at the edge and re-pads the per-token outputs. The fused operations come from the bound
`Ops` (fastenc.ops.interface): the PyTorch reference ("torch") or the Triton kernels ("triton"). The heads are the
ones fastenc.models.registry lists for the config's task.
"""
import contextlib

import numpy as np
import torch
from torch import nn

from ...config import EncoderConfig
from ...inputs import prepare_inputs, to_model_device
from ...ops.interface import ops_for
from ...ops.packing import PackedBatch, Packing
from ...outputs import EncoderOutput
from ..registry import HEADS, heads_for, per_token_fields
from .embeddings import Embeddings, max_sequence_length
from .encoder import Encoder


class EncoderModel(nn.Module):
    # The family's stages; a family with other embeddings or layers (DeBERTa) subclasses and names its own.
    embeddings_class = Embeddings
    encoder_class = Encoder

    def __init__(self, config: EncoderConfig, with_pooler: bool = False):
        super().__init__()
        self.config = config
        self.embeddings = self.embeddings_class(config)
        self.encoder = self.encoder_class(config)
        self.head_specs = heads_for(config, with_pooler)
        for spec in HEADS:  # absent heads read as None: `model.mlm is None` says the checkpoint has no MLM head
            setattr(self, spec.name, spec.build(config) if spec in self.head_specs else None)
        self.token_fields = per_token_fields(config)  # outputs that are re-padded like the hidden states
        self.padding_free = True  # pack real tokens when a padded batch has padding; False forces the padded path
        self.graphs = None  # a GraphRunner once enable_cuda_graphs() is called
        self.set_backend("torch")

    @property
    def max_length(self) -> int:
        return max_sequence_length(self.config)

    @property
    def device(self) -> torch.device:
        return self.embeddings.word.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.embeddings.word.weight.dtype

    def set_backend(self, backend: str) -> "EncoderModel":
        self.ops = ops_for(backend)
        self.backend = backend
        if getattr(self, "graphs", None) is not None:
            self.graphs.clear()  # captured graphs replay the old backend's kernels
        return self

    def enable_cuda_graphs(self, max_batch: int = 32, max_tokens: int = 8192, length_step: int = 32):
        """Replay CUDA graphs for small padded batches (at most `max_batch` rows and `max_tokens` padded tokens): one
        graph per (batch, length) bucket, captured on first use; `self.graphs.capture_seconds` says what each cost."""
        from ...runtime.cuda_graphs import GraphRunner

        self.graphs = GraphRunner(self, max_batch, max_tokens, length_step)
        return self

    def pack(self, input_ids, cu_seqlens, token_type_ids=None) -> PackedBatch:
        """A PackedBatch from host arrays, (N,) ids (and types) laid out by (B + 1,) offsets: what the tokenizer's
        `encode_packed` returns. Positions are numbered here, on the host, as this family numbers them."""
        positions = self.embeddings.packed_position_ids(input_ids, cu_seqlens)
        if self.config.type_vocab_size == 0:
            token_type_ids = None
        elif token_type_ids is None:
            token_type_ids = np.zeros(len(positions), dtype=np.int64)  # one segment, as the padded call assumes
        return PackedBatch.from_arrays(input_ids, cu_seqlens, positions, token_type_ids)

    @torch.inference_mode()
    def forward_packed(self, batch: PackedBatch, output_hidden_states: bool = False,
                       run_head: bool = True) -> EncoderOutput:
        """Per-token outputs come back packed, (N, ...), with `out.cu_seqlens`; sequence outputs are (B, ...)."""
        batch = batch.to(self.device)
        with self._on_device():
            self.ops.validate(batch.input_ids, self.embeddings.word.weight, self.config.head_dim)
            x = self.embeddings(batch.input_ids, batch.position_ids, batch.token_type_ids, self.ops)  # (N, E)
            attention_args = {"cu_seqlens": batch.cu_seqlens, "max_seqlen": batch.max_seqlen}
            x, hidden_states, _ = self.encode(x, batch.position_ids, attention_args, output_hidden_states)  # (N, H)
            out = EncoderOutput(last_hidden_state=x, hidden_states=tuple(hidden_states) if hidden_states else None,
                                cu_seqlens=batch.cu_seqlens)
            if run_head:
                self.run_heads(out, x, self.pool_packed(x, batch))  # (B, H)
        return out

    def padded_forward(self, input_ids, attention_mask, token_type_ids, run_head: bool = True,
                       output_hidden_states: bool = False, output_attentions: bool = False,
                       heads=None) -> EncoderOutput:
        """The padded path on checked (B, T) tensors already on the model's device: no host sync, fixed shapes, so a
        CUDA graph can capture it. attention_mask None means no padding; `heads` (HeadSpecs) the heads to run when
        `run_head`, None for all."""
        self.ops.validate(input_ids, self.embeddings.word.weight, self.config.head_dim)
        position_ids = self.embeddings.position_ids(input_ids)  # (B, T)
        x = self.embeddings(input_ids, position_ids, token_type_ids, self.ops)  # (B, T, E)
        x, hidden_states, attentions = self.encode(
            x, position_ids, {"key_padding_mask": attention_mask}, output_hidden_states, output_attentions
        )  # (B, T, H)
        out = EncoderOutput(
            last_hidden_state=x,
            hidden_states=tuple(hidden_states) if hidden_states else None,
            attentions=tuple(attentions) if attentions else None,
        )
        if run_head:
            self.run_heads(out, x, self.pool_padded(x, attention_mask), heads)
        return out

    # What a family may change about the forward pass (fastenc.models.modernbert overrides these).

    def encode(self, x, position_ids, attention_args: dict, output_hidden_states=False, output_attentions=False):
        """The layers on the embeddings x: (last hidden state, hidden states or None, attentions or None)."""
        return self.encoder(x, attention_args, self.ops, output_hidden_states, output_attentions)

    def pool_packed(self, x, batch: PackedBatch):
        """(B, H) input of the sequence heads from packed (N, H) tokens: each sequence's first token."""
        return x.index_select(0, batch.first_tokens())

    def pool_padded(self, x, attention_mask):
        """(B, H) input of the sequence heads from padded (B, T, H) tokens: position 0."""
        return x[:, 0]

    def run_heads(self, out: EncoderOutput, tokens, first, heads=None) -> None:
        """The model's heads (or those of `heads`, HeadSpecs), in registry order, each output set on `out`: per-token
        heads on `tokens` ((N, H) or (B, T, H)), sequence heads on `first` (B, H), what `pool_*` made of each
        sequence."""
        task = self.config.task
        for spec in self.head_specs if heads is None else [s for s in self.head_specs if s in heads]:
            result = self.run_head(spec, tokens, first, out)
            values = result if isinstance(result, tuple) else (result,)
            for name, value in zip(spec.fields_for(task), values, strict=True):
                setattr(out, name, value)

    def run_head(self, spec, tokens, first, out: EncoderOutput):
        """One head's output (a tuple where it fills several fields). Sequence heads also read the pooler output,
        which the pooler, running first, has set on `out` when there is one."""
        head = getattr(self, spec.name)
        return head(tokens, self.ops) if spec.per_token else head(first, out.pooler_output)

    @torch.inference_mode()
    def forward(
        self,
        input_ids,
        attention_mask=None,
        token_type_ids=None,
        output_hidden_states: bool = False,
        output_attentions: bool = False,
        run_head: bool = True,
        packed_output: bool = False,
    ) -> EncoderOutput:
        """The padded call: input_ids (B, T) or (T,); attention_mask 1 = token, 0 = padding. Outputs are (B, T, ...)
        with padded positions left free (zeros on the padding-free path). `run_head=False` stops after the encoder.
        `packed_output=True` hands back per-token outputs as (N, ...) real tokens only, with `out.cu_seqlens`, when
        the batch ran padding-free (a batch without padding comes back padded, with `cu_seqlens` None)."""
        input_ids, attention_mask, token_type_ids, host_mask = prepare_inputs(self, input_ids, attention_mask,
                                                                              token_type_ids)
        if host_mask is not None and bool(host_mask.all()):
            attention_mask = None  # no padding: the kernels skip masking altogether
        if self.graphs is not None and not (output_hidden_states or output_attentions) and self.graphs.fits(input_ids):
            return self.graphs(input_ids, attention_mask, token_type_ids, run_head)
        # Left padding keeps the padded path: sequence heads read position 0, which packing would leave empty.
        if self.padding_free and attention_mask is not None and not output_attentions and self.packable(host_mask):
            return self._forward_padding_free(input_ids, token_type_ids, Packing.from_mask(host_mask),
                                              output_hidden_states, run_head, packed_output)
        input_ids, attention_mask, token_type_ids = to_model_device(
            self.device, input_ids, attention_mask, token_type_ids
        )
        with self._on_device():
            return self.padded_forward(input_ids, attention_mask, token_type_ids, run_head, output_hidden_states,
                                       output_attentions)

    def packable(self, host_mask: torch.Tensor) -> bool:
        """Whether a padded batch with this (B, T) mask may run packed: sequence heads read position 0, so every row
        must start with a real token (left padding keeps the padded path)."""
        return bool(host_mask[:, 0].all())

    def _forward_padding_free(self, input_ids, token_type_ids, packing: Packing, output_hidden_states, run_head,
                              packed_output) -> EncoderOutput:
        """Pack the padded batch at the edge, run the packed path, re-pad per-token outputs unless asked not to."""
        position_ids = self.embeddings.position_ids(input_ids)  # (B, T): RoBERTa counts along each padded row
        out = self.forward_packed(packing.packed_batch(input_ids, position_ids, token_type_ids),
                                  output_hidden_states, run_head)
        if packed_output:
            return out
        out.last_hidden_state = packing.unpack(out.last_hidden_state)
        if out.hidden_states is not None:
            out.hidden_states = tuple(packing.unpack(h) for h in out.hidden_states)
        for name in self.token_fields:
            value = getattr(out, name)
            if value is not None:
                setattr(out, name, packing.unpack(value))
        out.cu_seqlens = None
        return out

    def _on_device(self):
        return torch.cuda.device(self.device) if self.device.type == "cuda" else contextlib.nullcontext()

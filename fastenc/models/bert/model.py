"""The encoder model: ids -> embeddings -> layers -> heads -> outputs.

`backend` picks where the fused operations run: "torch" (fastenc.reference, any device) or "triton"
(fastenc.kernels, CUDA or the Triton interpreter). Both take the same arguments, so the data path below is one.
"""
import contextlib
import importlib

import torch
from torch import nn

from ...api import EncoderAPI
from ...config import EncoderConfig
from .embeddings import Embeddings, max_sequence_length
from .encoder import Encoder
from ..heads import MaskedLMHead, Pooler, SequenceClassifier
from ...inputs import prepare_inputs, to_model_device
from ...outputs import EncoderOutput
from ...ops.packing import Packing

BACKENDS = {"torch": "fastenc.ops.reference", "triton": "fastenc.kernels"}
_NEEDS_POOLER = {"pretraining", "next_sentence"}


class EncoderModel(EncoderAPI, nn.Module):
    def __init__(self, config: EncoderConfig, with_pooler: bool = False):
        super().__init__()
        self.config = config
        H, task = config.hidden_size, config.task
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)
        needs_pooler = task in _NEEDS_POOLER or (
            task == "sequence_classification" and config.family in ("bert", "albert")
        )
        self.pooler = Pooler(config) if (with_pooler or needs_pooler) and config.family != "distilbert" else None
        self.mlm = MaskedLMHead(config) if task in ("masked_lm", "pretraining") else None
        self.sentence_pair = nn.Linear(H, 2) if task in ("pretraining", "next_sentence") else None
        self.classifier = SequenceClassifier(config, config.num_labels) if task == "sequence_classification" else None
        self.token_classifier = nn.Linear(H, config.num_labels) if task == "token_classification" else None
        self.qa = nn.Linear(H, 2) if task == "question_answering" else None
        self.padding_free = True  # pack real tokens when a batch has padding; False forces the padded path
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
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {backend!r}")
        self.ops = importlib.import_module(BACKENDS[backend])
        self.backend = backend
        if getattr(self, "graphs", None) is not None:
            self.graphs.clear()  # captured graphs replay the old backend's kernels
        return self

    def enable_cuda_graphs(self, max_batch: int = 32, max_tokens: int = 8192, length_step: int = 32):
        """Replay CUDA graphs for small batches (at most `max_batch` rows and `max_tokens` padded tokens): one graph
        per (batch, length) bucket, captured on first use; `self.graphs.capture_seconds` says what each cost."""
        from ...runtime.cuda_graphs import GraphRunner

        self.graphs = GraphRunner(self, max_batch, max_tokens, length_step)
        return self

    def padded_forward(self, input_ids, attention_mask, token_type_ids, run_head: bool = True) -> EncoderOutput:
        """The padded path on checked (B, T) tensors already on the model's device: no host sync, fixed shapes,
        so it can be captured in a CUDA graph."""
        x = self.embeddings(input_ids, token_type_ids, self.ops)  # (B, T, E)
        x, _, _ = self.encoder(x, {"key_padding_mask": attention_mask}, self.ops)  # (B, T, H)
        out = EncoderOutput(last_hidden_state=x)
        if run_head:
            self._run_head(out, x, x[:, 0], lambda t: t)
        return out

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
        """input_ids (B, T) or (T,); attention_mask 1 = token, 0 = padding. Outputs are (B, T, ...) with padded
        positions left free (zeros on the padding-free path). `run_head=False` stops after the encoder.
        `packed_output=True` hands back per-token outputs as (N, ...) real tokens only, with `out.cu_seqlens`, when
        the batch ran padding-free (a batch without padding comes back padded, with `cu_seqlens` None)."""
        input_ids, attention_mask, token_type_ids = prepare_inputs(self, input_ids, attention_mask, token_type_ids)
        if self.graphs is not None and not (output_hidden_states or output_attentions) and self.graphs.fits(input_ids):
            return self.graphs(input_ids, attention_mask, token_type_ids, run_head)
        packing = None
        if self.padding_free and attention_mask is not None and not output_attentions:
            # Bookkeeping once per batch on the CPU (where the tokenizer leaves the mask; one copy if it is not).
            host_mask = attention_mask.cpu()
            # Left padding keeps the padded path: sequence heads read position 0, which packing would leave empty.
            if not bool(host_mask.all()) and bool(host_mask[:, 0].all()):
                packing = Packing.from_mask(host_mask).to(self.device)
        input_ids, attention_mask, token_type_ids = to_model_device(
            self.device, input_ids, attention_mask, token_type_ids
        )
        with torch.cuda.device(self.device) if self.device.type == "cuda" else contextlib.nullcontext():
            return self._encode(input_ids, attention_mask, token_type_ids, packing, output_hidden_states,
                                output_attentions, run_head, packed_output)

    def _encode(self, input_ids, attention_mask, token_type_ids, packing, output_hidden_states, output_attentions,
                run_head, packed_output) -> EncoderOutput:
        x = self.embeddings(input_ids, token_type_ids, self.ops, packing)  # (B, T, E) or (N, E)
        attention_args = packing.attention_args if packing else {"key_padding_mask": attention_mask}
        x, hidden_states, attentions = self.encoder(
            x, attention_args, self.ops, output_hidden_states, output_attentions
        )  # (B, T, H) or (N, H)
        repad = packing.unpack if packing and not packed_output else (lambda t: t)
        out = EncoderOutput(
            last_hidden_state=repad(x),
            hidden_states=tuple(repad(h) for h in hidden_states) if hidden_states else None,
            attentions=tuple(attentions) if attentions else None,
            cu_seqlens=packing.cu_seqlens if packing and packed_output else None,
        )
        if run_head:
            # Each sequence's first token: packed, it sits at its sequence's offset (rows start with a real token).
            first = x.index_select(0, packing.cu_seqlens[:-1].long()) if packing else x[:, 0]  # (B, H)
            self._run_head(out, x, first, repad)
        return out

    def _run_head(self, out: EncoderOutput, tokens, first, repad) -> None:
        """Per-token heads run on `tokens` (packed real tokens when padding-free) and are re-padded unless packed
        output was asked for; sequence heads read `first`, each sequence's first token (B, H)."""
        task = self.config.task
        if self.pooler is not None:
            out.pooler_output = self.pooler(first)  # (B, H)
        if self.mlm is not None:
            out.logits = repad(self.mlm(tokens, self.ops.layer_norm))  # (B, T, V)
        if self.sentence_pair is not None:
            pair_logits = self.sentence_pair(out.pooler_output)  # (B, 2)
            if task == "next_sentence":
                out.logits = pair_logits
            else:
                out.seq_relationship_logits = pair_logits
        if self.classifier is not None:
            out.logits = self.classifier(first, out.pooler_output)  # (B, num_labels)
        if self.token_classifier is not None:
            out.logits = repad(self.token_classifier(tokens))  # (B, T, num_labels)
        if self.qa is not None:
            start, end = repad(self.qa(tokens)).unbind(-1)  # (B, T) each
            out.start_logits, out.end_logits = start.contiguous(), end.contiguous()

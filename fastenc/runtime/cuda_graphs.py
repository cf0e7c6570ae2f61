"""CUDA graphs for small, latency-bound batches: launch overhead paid once per shape bucket, not once per call.

A batch (B, T) runs in the graph of its bucket (B rounded up to a power of two, T up to a multiple of `length_step`):
its inputs are copied into the bucket's static buffers (extra rows and columns are padding, masked out), the graph is
replayed, and the (B, T) corner of the static outputs is returned. A head with vocabulary-wide outputs (MLM logits) is
not captured: it runs after the replay on the corner's real rows, so no graph keeps a bucket-sized logits tensor
resident (8,192 tokens x roberta's 50,265 words in bf16 is 824 MB per bucket). Graphs are captured on first use of a
bucket, after one eager warm-up run (which also lets the Triton kernels autotune outside the capture); few buckets keep
the warm-up short, and `capture_seconds` records what each capture cost.
"""
import time

import torch

from ..inputs import to_model_device
from ..outputs import EncoderOutput


def bucket_of(batch: int, seqlen: int, length_step: int, max_length: int) -> tuple:
    """(rows, positions) of the graph that serves a (batch, seqlen) input."""
    rows = 1 << (batch - 1).bit_length()  # next power of two
    positions = min(-(-seqlen // length_step) * length_step, max_length)
    return rows, positions


class _Graph:
    """One captured forward with its static input and output tensors."""

    def __init__(self, model, rows: int, positions: int, run_head: bool, pool):
        device, config = model.device, model.config
        self.model, self.pad_id = model, config.pad_token_id
        captured, self.late_heads = split_heads(model) if run_head else ([], [])
        self.input_ids = torch.full((rows, positions), config.pad_token_id, dtype=torch.long, device=device)
        self.attention_mask = torch.zeros(rows, positions, dtype=torch.long, device=device)
        self.token_type_ids = torch.zeros_like(self.input_ids) if config.type_vocab_size else None
        self.attention_mask[:, 0] = 1  # warm-up and capture must not run on all-padding rows
        args = (self.input_ids, self.attention_mask, self.token_type_ids, run_head)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream), torch.inference_mode():
            model.padded_forward(*args, heads=captured)  # warm-up: allocator pools, Triton autotuning
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, pool=pool), torch.inference_mode():
            self.output = model.padded_forward(*args, heads=captured)

    def __call__(self, input_ids, attention_mask, token_type_ids) -> EncoderOutput:
        B, T = input_ids.shape
        self.input_ids.fill_(self.pad_id)
        self.attention_mask.zero_()
        self.input_ids[:B, :T].copy_(input_ids, non_blocking=True)
        self.attention_mask[:B, :T].copy_(attention_mask, non_blocking=True)
        self.attention_mask[B:, 0] = 1  # rows beyond the batch attend to one pad token: finite, then discarded
        if self.token_type_ids is not None:
            self.token_type_ids.zero_()
            if token_type_ids is not None:
                self.token_type_ids[:B, :T].copy_(token_type_ids, non_blocking=True)
        self.graph.replay()
        return replayed_outputs(self.model, self.output, B, T, self.late_heads)


def split_heads(model) -> tuple[list, list]:
    """(heads a graph captures, heads run after each replay): the vocabulary-wide ones run after, on the corner."""
    late = [spec for spec in model.head_specs if spec.vocabulary_wide]
    return [spec for spec in model.head_specs if spec not in late], late


def replayed_outputs(model, static: EncoderOutput, B: int, T: int, late_heads) -> EncoderOutput:
    """What a replay returns: the (B, T) corner of the static outputs, then `late_heads` run on its hidden states."""
    result = corner(static, B, T, model.token_fields)
    if late_heads:
        model.run_heads(result, result.last_hidden_state, None, late_heads)  # per-token heads only: no pooled input
    return result


def corner(out: EncoderOutput, B: int, T: int, token_fields) -> EncoderOutput:
    """The outputs of the first B rows (and T positions, for the hidden state and the per-token outputs named in
    `token_fields`), copied out of static memory."""
    result = EncoderOutput(last_hidden_state=out.last_hidden_state[:B, :T].clone())
    for name in ("pooler_output", "logits", "seq_relationship_logits", "start_logits", "end_logits"):
        value = getattr(out, name)
        if value is not None:
            setattr(result, name, value[:B, :T].clone() if name in token_fields else value[:B].clone())
    return result


class GraphRunner:
    def __init__(self, model, max_batch: int, max_tokens: int, length_step: int):
        if model.device.type != "cuda":
            raise RuntimeError(f"CUDA graphs need the model on a CUDA device, not {model.device}")
        self.model, self.max_batch, self.max_tokens, self.length_step = model, max_batch, max_tokens, length_step
        self.graphs: dict = {}
        self.capture_seconds: dict = {}
        self.pool = torch.cuda.graph_pool_handle()  # one memory pool for every bucket's graph, not one each

    def clear(self) -> None:
        self.graphs.clear()
        self.capture_seconds.clear()

    def fits(self, input_ids) -> bool:
        B, T = input_ids.shape
        rows, positions = bucket_of(B, T, self.length_step, self.model.max_length)
        return rows <= self.max_batch and rows * positions <= self.max_tokens

    def __call__(self, input_ids, attention_mask, token_type_ids, run_head: bool) -> EncoderOutput:
        B, T = input_ids.shape
        key = (*bucket_of(B, T, self.length_step, self.model.max_length), run_head)
        if key not in self.graphs:
            start = time.perf_counter()
            with torch.cuda.device(self.model.device):
                self.graphs[key] = _Graph(self.model, key[0], key[1], run_head, self.pool)
            self.capture_seconds[key] = time.perf_counter() - start
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        # Host inputs go up from pinned memory: a copy from pageable memory would wait for the queued work first.
        inputs = to_model_device(self.model.device, input_ids, attention_mask, token_type_ids)
        with torch.cuda.device(self.model.device):
            return self.graphs[key](*inputs)

"""Sentence embeddings for large inputs: the runner's packed batches, pooled per sequence, rows in input order.

Pooling reads the last layer's packed tokens: "cls" each sequence's first token, "mean" the average over its tokens
(special tokens included, as sentence-transformers averages), "max" the element-wise maximum over its tokens.
"""
import torch

from ..compat.fairseq import require_tokenizer
from ..ops.packing import PackedBatch
from .batching import as_text_list, check_texts, known_length, truncation_length
from .pooling_config import model_pooling_config
from .runner import Runner, encoder

POOLINGS = ("cls", "mean", "max")


def pool(hidden: torch.Tensor, batch: PackedBatch, pooling: str) -> torch.Tensor:
    """(N, H) packed hidden states of `batch` (on its device) -> (B, H) float32, by segment reductions."""
    hidden = hidden.float()
    if pooling == "cls":
        return hidden.index_select(0, batch.first_tokens())
    B, H = batch.num_rows, hidden.shape[-1]
    index = batch.sequence_index()  # (N,) the sequence of each token
    if pooling == "mean":
        lengths = (batch.cu_seqlens[1:] - batch.cu_seqlens[:-1]).clamp(min=1)  # (B,)
        return hidden.new_zeros(B, H).index_add_(0, index, hidden) / lengths[:, None]
    return hidden.new_full((B, H), float("-inf")).scatter_reduce_(0, index[:, None].expand(-1, H), hidden, "amax")


def embed(model, texts, pooling: str | None = None, normalize: bool | None = None, batch_size=None,
          max_batch_tokens=None, progress=None) -> torch.Tensor:
    """(N, H) float32 CPU tensor, row i for text i. Texts longer than the model's maximum are truncated.

    pooling / normalize None: what the checkpoint's sentence-transformers files say (pooling_config.py).

    texts: a str (N = 1) or any iterable of str, read CHUNK_SIZE at a time. An empty iterable gives (0, H).
    progress: True / False force the tqdm bar on / off; None shows it on long jobs.
    """
    tokenizer = require_tokenizer(model)
    if pooling is None or normalize is None:
        defaults = model_pooling_config(model)
        pooling = defaults.pooling if pooling is None else pooling
        normalize = defaults.normalize if normalize is None else normalize
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    texts, _ = as_text_list(texts)

    @torch.inference_mode()
    def process(batch) -> torch.Tensor:
        packed = batch.packed(model.model).to(model.device)
        hidden = model.model.forward_packed(packed, run_head=False).last_hidden_state  # (n, H)
        return pool(hidden, packed, pooling)  # (b, H), left on the device: the runner fetches a chunk at a time

    outputs = []
    with Runner.for_model("embed", model, batch_size, max_batch_tokens, progress, known_length(texts)) as runner:
        encode = encoder(tokenizer, max_length=truncation_length(model), check=check_texts)
        for chunk in runner.chunks(texts, encode):
            outputs.append(runner.run(chunk, process))
    if not outputs:
        return torch.zeros(0, model.config.hidden_size)
    out = torch.cat(outputs)
    return torch.nn.functional.normalize(out, dim=-1) if normalize else out

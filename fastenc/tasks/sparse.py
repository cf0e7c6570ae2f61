"""SPLADE sparse embeddings on a masked-LM checkpoint: per text, max over its tokens of log(1 + relu(MLM logits)).

As TEI's and sentence-transformers' SPLADE pooling: every token of the sequence counts (special tokens included),
and only the non-zero vocabulary entries are returned, as [{"index", "value"}] in index order.
"""
import torch

from ..compat.fairseq import require_tokenizer
from .batching import as_text_list, check_texts, require_head, truncation_length
from .runner import Runner, encoder


def splade(logits: torch.Tensor, sequence_index: torch.Tensor, num_rows: int) -> torch.Tensor:
    """(N, V) packed MLM logits of `num_rows` sequences, (N,) the sequence of each token -> (B, V) float32."""
    weights = torch.log1p(torch.relu(logits.float()))  # (N, V), all >= 0, so a zero start is the identity of max
    V = weights.shape[-1]
    out = weights.new_zeros(num_rows, V)
    return out.scatter_reduce_(0, sequence_index[:, None].expand(-1, V), weights, "amax", include_self=True)


def sparse_records(rows: torch.Tensor) -> list:
    """(B, V) dense SPLADE rows -> per row [{"index", "value"}] of its non-zero entries, in index order."""
    rows = rows.cpu()
    records = []
    for row in rows:
        index = torch.nonzero(row).flatten()
        records.append([{"index": i, "value": v} for i, v in zip(index.tolist(), row[index].tolist())])
    return records


def embed_sparse(model, texts, batch_size=None, max_batch_tokens=None):
    """One text: its [{"index", "value"}]; several texts (a list or any iterable): one such list each, in order.
    Texts longer than the model's maximum are truncated."""
    tokenizer = require_tokenizer(model)
    require_head(model, "mlm", "masked-LM", ": SPLADE sparse embeddings need a *ForMaskedLM checkpoint")
    texts, single = as_text_list(texts)

    @torch.inference_mode()
    def process(batch) -> list:
        packed = batch.packed(model.model).to(model.device)
        hidden = model.model.forward_packed(packed, run_head=False).last_hidden_state  # (n, H)
        logits = model.mlm(hidden, model.ops)  # (n, V)
        return sparse_records(splade(logits, packed.sequence_index(), packed.num_rows))

    results = []
    with Runner.for_model("embed_sparse", model, batch_size, max_batch_tokens) as runner:
        encode = encoder(tokenizer, max_length=truncation_length(model), check=check_texts)
        for chunk in runner.chunks(texts, encode):
            results.extend(runner.run(chunk, process))
    return results[0] if single else results

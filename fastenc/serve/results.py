"""One batch's outputs and each request's share of them: the encoder runs once per batch; pooling and heads are
computed on demand, once per batch, and each request reads its own rows and tokens, with the tasks' own helpers
(embed.pool, classify.score_function, tag.entity_groups, fill_mask.mask_predictions, sparse.splade), so a server
answer is what the library call computes."""
from types import SimpleNamespace

import numpy as np
import torch

from ..models.registry import label_names
from ..outputs import EncoderOutput
from ..tasks import classify, fill_mask, rerank, sparse, tag
from ..tasks.embed import pool
from .errors import validation


def concat_encoded(parts: list) -> tuple[dict, np.ndarray]:
    """The flat arrays of several requests back to back, and the (B + 1,) offsets of all their inputs."""
    names = [n for n in ("input_ids", "token_type_ids") if all(n in p.arrays for p in parts)]
    arrays = {n: np.concatenate([p.arrays[n] for p in parts]) for n in names}
    lengths = np.concatenate([p.lengths for p in parts])
    cu = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=cu[1:])
    return arrays, cu


class BatchOutputs:
    def __init__(self, engine, packed, hidden: torch.Tensor, parts: list):
        self.engine, self.packed, self.hidden, self.parts = engine, packed, hidden, parts
        rows = np.zeros(len(parts) + 1, dtype=np.int64)
        np.cumsum([len(p.cu_seqlens) - 1 for p in parts], out=rows[1:])
        self.row_starts = rows  # (R + 1,) request r owns rows row_starts[r]:row_starts[r + 1]
        self._pooled = {}
        self._heads = None

    @classmethod
    def run(cls, engine, parts: list) -> "BatchOutputs":
        """The encoder on all `parts` (tokenization.Encoded) as one packed batch."""
        arrays, cu = concat_encoded(parts)
        model = engine.model
        packed = model.pack(arrays["input_ids"], cu, arrays.get("token_type_ids")).to(engine.device)
        hidden = model.forward_packed(packed, run_head=False).last_hidden_state  # (N, H)
        return cls(engine, packed, hidden, parts)

    def pooled(self, pooling: str) -> torch.Tensor:
        """(B, H) float32, every row of the batch pooled one way."""
        if pooling not in self._pooled:
            self._pooled[pooling] = pool(self.hidden, self.packed, pooling)
        return self._pooled[pooling]

    def heads(self) -> EncoderOutput:
        """The checkpoint's heads on the whole batch, as forward_packed runs them (classifier, token classifier)."""
        if self._heads is None:
            out = EncoderOutput(last_hidden_state=self.hidden, cu_seqlens=self.packed.cu_seqlens)
            model = self.engine.model
            model.run_heads(out, self.hidden, model.pool_packed(self.hidden, self.packed))  # pooled: (B, H)
            self._heads = out
        return self._heads

    def part(self, r: int) -> "Part":
        return Part(self, r)


class Part:
    """Request r's rows and tokens of a batch."""

    def __init__(self, outputs: BatchOutputs, r: int):
        self.outputs = outputs
        self.encoded = outputs.parts[r]
        self.rows = slice(int(outputs.row_starts[r]), int(outputs.row_starts[r + 1]))
        first = int(outputs.packed.host_cu_seqlens[self.rows.start])
        self.tokens = slice(first, first + self.encoded.num_tokens)

    @property
    def hidden(self) -> torch.Tensor:
        return self.outputs.hidden[self.tokens]  # (n, H)

    def sequence_index(self) -> torch.Tensor:
        """(n,) the request's own row of each of its tokens."""
        lengths = torch.from_numpy(self.encoded.lengths).to(self.hidden.device)
        return torch.repeat_interleave(torch.arange(len(lengths), device=lengths.device), lengths)


# Finishers: part -> the request's result. Built per request by the routes; run on the model thread.

def embed(pooling: str, normalize: bool, dimensions: int | None):
    def finish(part: Part) -> np.ndarray:
        vectors = part.outputs.pooled(pooling)[part.rows]  # (r, H)
        if dimensions is not None:
            vectors = vectors[:, :dimensions]  # Matryoshka: the leading values, then normalised
        if normalize:
            vectors = torch.nn.functional.normalize(vectors, dim=-1)
        return vectors.cpu().numpy()
    return finish


def embed_all(part: Part) -> list:
    hidden = part.hidden.float().cpu().numpy()  # (n, H)
    cu = part.encoded.cu_seqlens
    return [hidden[a:b] for a, b in zip(cu[:-1].tolist(), cu[1:].tolist())]


def embed_sparse(part: Part) -> list:
    engine = part.outputs.engine
    logits = engine.mlm(part.hidden, engine.ops)  # (n, V): this request's tokens only
    return sparse.sparse_records(sparse.splade(logits, part.sequence_index(), len(part.encoded.cu_seqlens) - 1))


def _scores(part: Part, raw_scores: bool) -> torch.Tensor:
    logits = part.outputs.heads().logits[part.rows].float()  # (r, num_labels)
    return logits if raw_scores else classify.score_function(part.outputs.engine.config)(logits)


def predict(raw_scores: bool):
    def finish(part: Part) -> list:
        labels = label_names(part.outputs.engine.config)
        results = []
        for row in _scores(part, raw_scores).cpu().tolist():
            order = sorted(range(len(row)), key=lambda i: -row[i])
            results.append([{"score": row[i], "label": labels[i]} for i in order])
        return results
    return finish


def rank(raw_scores: bool, return_text: bool, texts: list):
    def finish(part: Part) -> list:
        return rerank.ranking(_scores(part, raw_scores)[:, 0].cpu().tolist(), texts, return_text)
    return finish


def tag_entities(part: Part) -> list:
    engine, arrays = part.outputs.engine, part.encoded.arrays
    logits = part.outputs.heads().logits[part.tokens]  # (n, num_labels)
    return tag.entity_groups(engine.tokenizer, label_names(engine.config), part.encoded.items, logits,
                             arrays["input_ids"], arrays["special_tokens_mask"], arrays["offset_mapping"],
                             part.encoded.cu_seqlens)


def fill_masks(top_k: int):
    def finish(part: Part) -> list:
        engine = part.outputs.engine
        return fill_mask.mask_predictions(engine, part.encoded.arrays["input_ids"], part.hidden,
                                          part.encoded.cu_seqlens, top_k)
    return finish


def check_masks(engine, encoded, field: str = "inputs") -> None:
    """Every fill-mask input must hold the mask token (run before queueing, on the tokenizer's thread)."""
    chunk = SimpleNamespace(start=0, arrays=encoded.arrays, cu_seqlens=encoded.cu_seqlens, lengths=encoded.lengths)
    try:
        fill_mask.check_masks(engine, chunk, engine.tokenizer.mask_token_id, engine.tokenizer.mask_token)
    except ValueError as e:
        raise validation(f"{field}: {e}") from e

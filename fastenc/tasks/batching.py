"""The pieces of a text job: checked text input, streamed chunks, length-sorted token-budget batches, progress.

Large jobs (millions of texts) never sit in memory whole: the input is read CHUNK_SIZE texts at a time, and each chunk
is sorted by token count so a batch holds texts of similar length. fastenc.tasks.runner puts the pieces together.
"""
import itertools

import numpy as np
import torch

CHUNK_SIZE = 10_000  # texts read from the input at a time
DEFAULT_MAX_BATCH_TOKENS = 16_384  # real tokens (no padding: batches are packed) per forward pass on a GPU
# On the CPU 4,096 beat 2,048 and batch_size=32 on 1 and 2 threads (8,192 won only on 2):
# benchmarks/results/cpu-batch-budget-2026-12-01.txt
DEFAULT_MAX_BATCH_TOKENS_CPU = 4_096
# glibc serves a block above this from fresh mmap'd pages (its adaptive threshold stops at 32 MiB on 64-bit) and
# returns it to the OS when freed, so an activation that large page-faults again on every product: bert-base's QKV
# and FFN products with 36-48 MiB outputs at 4,096 tokens ran at 264-284 GFLOP/s against 316-329 at 2,048
# (benchmarks/results/cpu-product-rows-2026-12-01.txt), and its fp32 embed job x1.04 faster at 2,048 tokens
# (benchmarks/results/cpu-budget-width-2026-12-01.txt). So the CPU budget halves until the model's widest activation
# fits (MiniLM's, and bert-base's in bf16, already do at 4,096).
CPU_ACTIVATION_CEILING = 32 * 1024 * 1024


def default_batch_tokens(device, token_bytes: int | None = None) -> int:
    """The token budget of a batch when the caller sets neither max_batch_tokens nor batch_size; `token_bytes`: the
    size of one token's widest activation in the model (`widest_activation_bytes`), which bounds the CPU budget."""
    if torch.device(device).type != "cpu":
        return DEFAULT_MAX_BATCH_TOKENS
    budget = DEFAULT_MAX_BATCH_TOKENS_CPU
    while token_bytes and budget > 512 and budget * token_bytes > CPU_ACTIVATION_CEILING:
        budget //= 2
    return budget


def widest_activation_bytes(model) -> int | None:
    """Bytes per token of the widest product output in the model's encoder layers (the fused QKV, a gated FFN's two
    halves, ...), in its dtype; None for a model without that structure."""
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        return None
    widths = [m.out_features for m in encoder.modules() if isinstance(m, torch.nn.Linear)]
    if not widths:
        return None
    return max(widths) * torch.empty((), dtype=model.dtype).element_size()


PROGRESS_AFTER = 2_000  # texts: a progress bar appears on jobs at least this long


def chunks(iterable, size: int = CHUNK_SIZE):
    """Lists of `size` items (the last may be shorter), pulled lazily from any iterable."""
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def as_text_list(texts, name: str = "texts"):
    """A single str becomes a one-text batch; anything else must be an iterable of str (checked as it streams)."""
    if isinstance(texts, str):
        return [texts], True
    if isinstance(texts, (bytes, dict)) or not hasattr(texts, "__iter__"):
        raise TypeError(f"{name} must be a str or an iterable of str, not {type(texts).__name__}")
    return texts, False


def check_texts(chunk: list, name: str = "texts") -> None:
    for i, text in enumerate(chunk):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{i}] must be a str, not {type(text).__name__}")


def token_budget_batches(lengths, max_batch_tokens=None, batch_size=None) -> list:
    """Group row indices into batches of similar length.

    Rows are sorted by length (stable); a batch grows while its real tokens stay within `max_batch_tokens` and its
    row count within `batch_size`. A row longer than the budget still gets a batch of its own.
    """
    if max_batch_tokens is None and batch_size is None:
        max_batch_tokens = DEFAULT_MAX_BATCH_TOKENS
    for name, value in (("max_batch_tokens", max_batch_tokens), ("batch_size", batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{name} must be a positive int or None, got {value!r}")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(lengths, kind="stable").tolist()
    sizes = lengths.tolist()
    batches, current, tokens = [], [], 0
    for i in order:
        too_many_tokens = max_batch_tokens is not None and tokens + sizes[i] > max_batch_tokens
        too_many_rows = batch_size is not None and len(current) >= batch_size
        if current and (too_many_tokens or too_many_rows):
            batches.append(current)
            current, tokens = [], 0
        current.append(i)
        tokens += sizes[i]
    if current:
        batches.append(current)
    return batches


def pad_rows(rows: list, pad_value: int) -> torch.Tensor:
    """Right-pad lists of ints into a (B, T) long tensor."""
    T = max(len(r) for r in rows)
    out = torch.full((len(rows), T), pad_value, dtype=torch.long)
    for b, row in enumerate(rows):
        out[b, :len(row)] = torch.as_tensor(row, dtype=torch.long)
    return out


def require_head(model, head: str, what: str, hint: str) -> None:
    """A task's check that the checkpoint runs the head it needs (`head`: a name of fastenc.models.registry)."""
    if getattr(model.model, head) is None:
        raise ValueError(f"this checkpoint has no {what} head (task {model.config.task!r}){hint}")


def truncation_length(model) -> int:
    """The longest input the model and its tokenizer both accept: the one max-length rule of every text task."""
    longest = model.max_length
    if model.tokenizer is not None:
        longest = min(longest, model.tokenizer.model_max_length)
    return longest


class Progress:
    """A tqdm bar on long jobs only: shown from the start when the total is known and large, otherwise once
    PROGRESS_AFTER texts are done. `enabled`: True always, False never, None decide by size."""

    def __init__(self, total=None, enabled=None, desc: str = "texts"):
        self.enabled, self.total, self.desc = enabled, total, desc
        self.done = 0
        self.bar = None
        if enabled or (enabled is None and total is not None and total >= PROGRESS_AFTER):
            self._open()

    def _open(self):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, initial=self.done, desc=self.desc, unit=" texts", dynamic_ncols=True)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled is None and self.done >= PROGRESS_AFTER:
            self._open()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def known_length(texts):
    try:
        return len(texts)
    except TypeError:  # a generator or a file: streamed, length unknown
        return None

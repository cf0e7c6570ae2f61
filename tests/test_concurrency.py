"""One Tokenizer and one loaded model shared by 8 Python threads (tokenize, encode_packed, forward, embed, fill_mask
at once, several rounds) give exactly the serial results, with no crash and no deadlock (joins have a timeout)."""
import threading

import numpy as np
import pytest
import torch

import fastenc
from real_vocab_checkpoints import VOCAB_DIR, build_with_tokenizer

THREADS = 8
ROUNDS = 3
JOIN_TIMEOUT_S = 60  # generous for a loaded 2-core CI machine; a deadlock never finishes


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bert-mlm-shared")
    build_with_tokenizer("bert", "ForMaskedLM", folder)
    return fastenc.load(folder)


def jobs(model, lines):
    """name -> zero-argument call whose result is compared exactly with its serial value."""
    tok = model.tokenizer
    masked = [f"{line[:40]} {tok.mask_token} end." for line in lines[:6]]
    batch = tok(lines[:16], padding=True, truncation=True, max_length=48, return_tensors="pt")

    def forward():
        with torch.no_grad():
            return model(batch["input_ids"], batch["attention_mask"]).last_hidden_state

    return {
        "tokenize batch": lambda: tok(lines, padding=True, truncation=True, max_length=64, return_tensors="np",
                                      return_offsets_mapping=True),
        "tokenize lists": lambda: tok(lines[:50], truncation=True, max_length=32),
        "tokenize single": lambda: tok(lines[7], return_offsets_mapping=True),
        "encode_packed": lambda: tok.encode_packed(lines, max_length=64, return_offsets=True),
        "encode_packed pairs": lambda: tok.encode_packed(lines[:100], lines[100:200], max_length=40),
        "forward": forward,
        "embed": lambda: model.embed(lines[:24], pooling="mean", batch_size=8),
        "fill_mask": lambda: model.fill_mask(masked, top_k=3, batch_size=4),
    }


def same(a, b):
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def test_threads_sharing_one_model_and_tokenizer_match_serial_calls(model):
    lines = [line for path in sorted((VOCAB_DIR.parent / "corpus").glob("*.txt"))
             for line in path.read_text(encoding="utf-8").split("\n") if line][::40][:400]
    assert len(lines) == 400
    calls = jobs(model, lines)
    expected = {name: call() for name, call in calls.items()}
    names = list(calls)
    failures, finished = [], []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def worker(index):
        try:
            start.wait()
            for round_ in range(ROUNDS):
                # Each thread walks the jobs in its own order, so different calls overlap.
                for k in range(len(names)):
                    name = names[(index + round_ + k) % len(names)]
                    if not same(calls[name](), expected[name]):
                        with lock:
                            failures.append(f"thread {index} round {round_}: {name} differs from the serial call")
            with lock:
                finished.append(index)
        except Exception as error:  # reported below; a thread's exception would otherwise vanish
            with lock:
                failures.append(f"thread {index}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=JOIN_TIMEOUT_S)
    alive = [i for i, t in enumerate(threads) if t.is_alive()]
    assert not alive, f"threads {alive} still running after {JOIN_TIMEOUT_S}s: deadlock or hang"
    assert not failures, "\n".join(failures)
    assert sorted(finished) == list(range(THREADS))


def test_tokenizer_errors_in_one_thread_leave_others_unharmed(model):
    """A truncation error raised inside the pool reaches its own caller only."""
    tok = model.tokenizer
    lines = [f"line {i} with some words to split" for i in range(300)]
    expected = tok.encode_packed(lines)
    errors, results = [], []
    lock = threading.Lock()

    def bad():
        try:
            tok(lines, truncation="only_second", max_length=6)  # every row raises inside the pool
        except ValueError as error:
            with lock:
                errors.append(str(error))

    def good():
        out = tok.encode_packed(lines)
        with lock:
            results.append(all(np.array_equal(out[k], expected[k]) for k in expected))

    threads = [threading.Thread(target=bad if i % 2 else good, daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=JOIN_TIMEOUT_S)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert results == [True] * (THREADS // 2)
    assert len(errors) == THREADS // 2 and all("Second sequence not provided" in e for e in errors), errors


def test_a_small_batch_is_not_queued_behind_a_large_one(model):
    """While one thread encodes a large batch on the pool (encode_packed: all C++, GIL released), another thread's
    small batches keep completing: no starvation and no deadlock when jobs of different sizes overlap."""
    tok = model.tokenizer
    lines = [line for path in sorted((VOCAB_DIR.parent / "corpus").glob("*.txt"))
             for line in path.read_text(encoding="utf-8").split("\n") if line]
    large, small = lines * 2, lines[:64]
    started, large_done = threading.Event(), []
    small_done = []

    def encode_large():
        started.set()
        tok.encode_packed(large)
        large_done.append(True)

    thread = threading.Thread(target=encode_large, daemon=True)
    thread.start()
    started.wait()
    while not large_done and len(small_done) < 1000:
        tok.encode_packed(small)
        if not large_done:
            small_done.append(True)
    thread.join(timeout=JOIN_TIMEOUT_S)
    assert not thread.is_alive(), "deadlock"
    assert len(small_done) >= 3, f"only {len(small_done)} small batches finished while the large one ran"

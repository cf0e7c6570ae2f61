"""Exact parity with the transformers fast tokenizers on every line of the shared corpus (21k lines, six languages),
for every vocabulary, for our tokenizer loaded from the vocabulary files and from the reference's tokenizer.json.

Each option combination is one batch call per tokenizer (not one call per line), so the whole file stays fast."""
import numpy as np
import pytest

from tokenizer_helpers import VOCABS, assert_same

NAMES = list(VOCABS)


def _ours(pair):
    return [("files", pair.from_files), ("tokenizer.json", pair.from_json)]


@pytest.mark.parametrize("name", NAMES)
def test_singles_with_offsets(tokenizer_pairs, corpus_lines, name):
    pair = tokenizer_pairs[name]
    ref = pair.reference(corpus_lines, return_offsets_mapping=True)
    assert sum(map(len, ref["input_ids"])) > len(corpus_lines) * 3
    for source, ours in _ours(pair):
        assert_same(ours(corpus_lines, return_offsets_mapping=True), ref, corpus_lines, f"{name}/{source}/singles")


@pytest.mark.parametrize("name", NAMES)
def test_pairs_and_truncation(tokenizer_pairs, corpus_lines, name):
    """Each line paired with the next, on four interleaved quarters of the corpus (the reference is the slow
    part): untruncated, then max_length=32 with each strategy. HF raises for a whole batch when only_first/only_second
    cannot reach the length, so those run on the pairs where it can."""
    pair = tokenizer_pairs[name]
    firsts, seconds = corpus_lines[0:-1:4], corpus_lines[1::4]
    ref_full = pair.reference(firsts, seconds, return_offsets_mapping=True)
    for source, ours in _ours(pair):
        assert_same(ours(firsts, seconds, return_offsets_mapping=True), ref_full, firsts, f"{name}/{source}/pairs",
                    seconds)

    firsts, seconds = corpus_lines[:-1], corpus_lines[1:]
    single_len = [len(ids) for ids in pair.from_files(corpus_lines, add_special_tokens=False)["input_ids"]]
    added = len(ref_full["input_ids"][0]) - single_len[0] - single_len[1]
    max_length = 32
    for quarter, strategy in enumerate(("longest_first", "only_first", "only_second"), start=1):
        rows = range(quarter, len(firsts), 4)
        if strategy != "longest_first":
            def fits(i):
                la, lb = single_len[i], single_len[i + 1]
                excess = la + lb + added - max_length
                return excess <= 0 or (la if strategy == "only_first" else lb) > excess
            rows = [i for i in rows if fits(i)]
            assert len(rows) > 500, f"too few {strategy} pairs to be a meaningful test ({len(rows)})"
        a, b = [firsts[i] for i in rows], [seconds[i] for i in rows]
        kwargs = dict(truncation=strategy, max_length=max_length, return_offsets_mapping=True)
        ref = pair.reference(a, b, **kwargs)
        assert max(map(len, ref["input_ids"])) == max_length
        for source, ours in _ours(pair):
            assert_same(ours(a, b, **kwargs), ref, a, f"{name}/{source}/{strategy}", b)


@pytest.mark.parametrize("name", NAMES)
def test_padding(tokenizer_pairs, corpus_lines, name):
    """Padded NumPy batches in chunks of 128 lines, every tenth chunk (transformers pads in Python, slowly): longest;
    max_length with truncation and pad_to_multiple_of; pairs padded to the longest."""
    pair = tokenizer_pairs[name]
    combos = [
        dict(padding=True),
        dict(padding="longest", pad_to_multiple_of=8, return_offsets_mapping=True),
        dict(padding="max_length", max_length=48, truncation=True, pad_to_multiple_of=16),
    ]
    for start in range(0, len(corpus_lines), 128 * 10):
        chunk = corpus_lines[start:start + 128]
        for kwargs in combos:
            ref = pair.reference(chunk, return_tensors="np", **kwargs)
            for source, ours in _ours(pair):
                assert_same(ours(chunk, return_tensors="np", **kwargs), ref, chunk, f"{name}/{source}/{kwargs}")
        if start % (128 * 30) == 0:  # pairs padded, on a deterministic subset of the chunks
            ref = pair.reference(chunk[:-1], chunk[1:], padding=True, truncation="longest_first", max_length=64,
                                 return_tensors="np")
            for source, ours in _ours(pair):
                assert_same(ours(chunk[:-1], chunk[1:], padding=True, truncation="longest_first", max_length=64,
                                 return_tensors="np"), ref, chunk, f"{name}/{source}/pairs-padded")


@pytest.mark.parametrize("name", NAMES)
def test_single_string_calls_and_pt(tokenizer_pairs, corpus, name):
    """Un-batched calls (flat lists) and return_tensors='pt' on a line of each language."""
    import torch

    pair = tokenizer_pairs[name]
    for lines in corpus.values():
        text, other = lines[0], lines[1]
        assert pair.from_files(text, other) == pair.reference(text, other)
        assert pair.from_files.encode(text) == pair.reference.encode(text)
        ours = pair.from_files([text, other], padding=True, return_tensors="pt")
        ref = pair.reference([text, other], padding=True, return_tensors="pt")
        for key in ref:
            assert ours[key].dtype == ref[key].dtype and torch.equal(ours[key], ref[key]), key


@pytest.mark.parametrize("name", NAMES)
def test_decode(tokenizer_pairs, corpus_lines, name):
    pair = tokenizer_pairs[name]
    lines = corpus_lines[::20]
    batch = pair.reference(lines)["input_ids"]
    for ids, line in zip(batch, lines):
        for skip in (False, True):
            assert pair.from_files.decode(ids, skip_special_tokens=skip) == \
                pair.reference.decode(ids, skip_special_tokens=skip), line
            assert pair.from_json.decode(np.array(ids), skip_special_tokens=skip) == \
                pair.reference.decode(ids, skip_special_tokens=skip), line

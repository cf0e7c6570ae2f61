"""Property tests with hypothesis: arbitrary text never crashes, hangs or disagrees with the reference.

CI runs a bounded number of examples (about 20-40 s in all). For a longer local run raise the count:
    FASTENC_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest tests/tokenizer/test_fuzz.py
"""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenizer_helpers import VOCABS

EXAMPLES = int(os.environ.get("FASTENC_FUZZ_EXAMPLES", "500"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

# Text from every plane (no lone surrogates: Python str can hold them, UTF-8 cannot; tested separately), with
# extra weight on the characters tokenizers treat specially.
SPECIAL_PIECES = ["[MASK]", "<mask>", "[CLS]", "<s>", " ", "\t", "\n", "\u00a0", "\u200b", "\u0301", "'s", "##",
                  "\x00", "\ufffd", "中", "İ", "😀", "\u200d", "a" * 101]
texts = st.lists(st.one_of(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
                           st.sampled_from(SPECIAL_PIECES)), max_size=8).map("".join)


@pytest.mark.parametrize("name", list(VOCABS))
def test_fuzz_parity(tokenizer_pairs, name):
    pair = tokenizer_pairs[name]

    @FUZZ
    @given(a=texts, b=texts)
    def check(a, b):
        for kwargs in (dict(), dict(truncation="longest_first", max_length=8)):
            ours = pair.from_files([a], [b], return_offsets_mapping=True, **kwargs)
            ref = pair.reference([a], [b], return_offsets_mapping=True, **kwargs)
            assert dict(ours) == dict(ref), (a, b, kwargs)
        assert pair.from_files.decode(ref["input_ids"][0]) == pair.reference.decode(ref["input_ids"][0])

    check()


@FUZZ
@given(batch=st.lists(texts, max_size=40), max_length=st.integers(min_value=0, max_value=40),
       multiple=st.sampled_from([None, 1, 8]))
def test_fuzz_batches_never_crash(tokenizer_pairs, batch, max_length, multiple):
    """Any batch, any padding/truncation setting: either a result of consistent shape or a ValueError."""
    tok = tokenizer_pairs["roberta-base"].from_files
    try:
        out = tok(batch, padding="max_length", truncation=True, max_length=max_length,
                  pad_to_multiple_of=multiple, return_tensors="np", return_offsets_mapping=True)
    except ValueError:
        return
    assert out["input_ids"].shape == out["attention_mask"].shape == out["offset_mapping"].shape[:2]
    assert out["input_ids"].shape[0] == len(batch)

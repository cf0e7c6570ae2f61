"""Every mismatch the random fuzzer (scripts/fuzz_tokenizer.py) found, as its minimal input, checked against HF on
every vocabulary and both loading paths. Add each new reproducer the fuzzer prints (its vocab, text, pair, kwargs,
single_calls) to REGRESSIONS with a comment saying what it caught."""
import pytest

from fuzz_inputs import Batch, compare

OUT = dict(return_offsets_mapping=True, return_special_tokens_mask=True)
REGRESSIONS = [
    # bert-base-uncased offsets: NFD's canonical reordering moves a mark HF keeps (U+1DFB, U+1AC1, U+1DF6: unknown to
    # its old Mn table) behind a stripped one, and the kept mark takes the stripped one's origin.
    dict(vocab="bert-base-uncased", text="\u0436\u1dfb\u032d\u05c4\u05ae", pair=None, kwargs=OUT),
    dict(vocab="bert-base-uncased", text="a\u1dfb\u0323", pair=None, kwargs=OUT),
    dict(vocab="bert-base-uncased", text="a\u030b\xe9\u4e2d\u1ae4\u1dfb\u05bf", pair=None, kwargs=OUT),
    dict(vocab="bert-base-uncased", text="\u0939\u064d\u1dc5\u1df6a\xe9\u1dfb\u0334\u20d6\u20eb", pair=None,
         kwargs=OUT),
    dict(vocab="bert-base-uncased", text="x \u0301\u0f73 e\u0301\u1ac1\u0316 y", pair="\u1e09\u1dfb\u0323", kwargs=OUT),
    # max_length below the special tokens: HF's usize subtraction wraps, so nothing is truncated and nothing raised.
    dict(vocab="bert-base-uncased", text="hello world foo bar", pair="x y z w",
         kwargs=dict(OUT, truncation="longest_first", max_length=1)),
    dict(vocab="roberta-base", text="hello world foo bar", pair=None, kwargs=dict(OUT, max_length=0)),
    dict(vocab="roberta-base", text="hello world", pair="x y", kwargs=dict(OUT, truncation="only_first", max_length=2)),
    dict(vocab="bert-base-uncased", text="hello world", pair=None, kwargs=dict(OUT, truncation="only_second",
                                                                             max_length=1)),
    # max_length equal to the special tokens: HF empties both sequences whatever the strategy, without raising.
    dict(vocab="bert-base-uncased", text="hello world foo bar", pair="x y z w",
         kwargs=dict(OUT, truncation="only_first", max_length=3)),
    dict(vocab="roberta-base", text="hello world", pair=None, kwargs=dict(OUT, truncation="only_second", max_length=2)),
    dict(vocab="bert-base-uncased", text="hello", pair="x", kwargs=dict(OUT, truncation="only_second", max_length=0,
                                                                      add_special_tokens=False)),
    # A single call with an empty pair string: transformers drops the pair (`if text_pair`), batches keep it.
    dict(vocab="bert-base-uncased", text="", pair="", kwargs=OUT, single_calls=True),
    dict(vocab="roberta-base", text="abc def", pair="", kwargs=dict(OUT, truncation="only_first", max_length=64),
         single_calls=True),
    dict(vocab="roberta-base", text="abc def", pair="", kwargs=OUT, single_calls=False),
]


@pytest.mark.parametrize("name", ["bert-base-uncased", "bert-base-multilingual-cased", "roberta-base"])
def test_fuzz_regressions(tokenizer_pairs, name):
    """Each reproducer on every fuzzed vocabulary (not only the one it was found on), singly and as one batch."""
    pair = tokenizer_pairs[name]
    for case in REGRESSIONS:
        batch = Batch([case["text"]], None if case["pair"] is None else [case["pair"]], case["kwargs"],
                      case.get("single_calls", False))
        for ours in (pair.from_files, pair.from_json):
            failures, _ = compare(ours, pair.reference, batch)
            assert not failures, (case, failures)

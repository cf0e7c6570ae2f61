"""A bounded run of the random fuzzer's generator (tests/tokenizer/fuzz_inputs.py) in CI: the same inputs `make fuzz`
draws, a few thousand per vocabulary, compared with HF (ids, type ids, masks, offsets, decode). The full run is
`make fuzz` (a million inputs, every core); its record is in benchmarks/results/fuzz-tokenizer-*.txt."""
import os
import random

import pytest

from fuzz_inputs import compare, random_batch

INPUTS = int(os.environ.get("FASTENC_FUZZ_INPUTS", "5000"))


@pytest.mark.parametrize("name", ["bert-base-uncased", "bert-base-multilingual-cased", "roberta-base"])
def test_random_inputs_match_the_reference(tokenizer_pairs, name):
    pair = tokenizer_pairs[name]
    rng = random.Random(f"ci-{name}")
    done, failures = 0, []
    while done < INPUTS:
        batch = random_batch(rng, long_fraction=0.0)  # long inputs: the full run and test_adversarial cover them
        done += len(batch.texts)
        found, _ = compare(pair.from_files, pair.reference, batch)
        failures += [dict(text=batch.texts[i], pair=batch.pairs[i] if batch.pairs else None, kwargs=batch.kwargs,
                          single_calls=single, what=what[:300]) for i, what, single in found]
    assert not failures, f"{len(failures)} of {done} inputs differ; first: {failures[:3]!r}"

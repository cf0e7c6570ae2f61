"""NomicBERT's tokenizer (nomic-embed-text-v1/v1.5, nomic-bert-2048: bert-base-uncased WordPiece saved as a
tokenizer.json with model_max_length 8192) through fastenc.Tokenizer: the C++ core, exact parity with the transformers
fast tokenizer on the shared corpus with nomic's task prefixes, which are ordinary text to the tokenizer."""
import json
import shutil

import numpy as np
import pytest
import transformers

from fastenc.tokenizer import Tokenizer
from real_vocab_checkpoints import VOCAB_DIR
from tokenizer_helpers import assert_same

PREFIXES = ("search_query: ", "search_document: ", "classification: ", "clustering: ")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(transformers' tokenizer, ours) read from a folder laid out as nomic-ai's repositories hold it."""
    source = tmp_path_factory.mktemp("nomic-vocab")
    shutil.copy(VOCAB_DIR / "bert-base-uncased.vocab.txt", source / "vocab.txt")
    (source / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 8192}))
    folder = tmp_path_factory.mktemp("nomic-tokenizer")
    transformers.BertTokenizerFast.from_pretrained(source).save_pretrained(folder)
    assert (folder / "tokenizer.json").is_file()
    return transformers.AutoTokenizer.from_pretrained(folder), Tokenizer.from_pretrained(folder)


def test_runs_on_the_cpp_core(pair):
    reference, ours = pair
    assert ours.is_native
    assert ours.model_max_length == reference.model_max_length == 8192
    assert (ours.mask_token_id, ours.pad_token_id, len(ours)) == (reference.mask_token_id, reference.pad_token_id,
                                                                  len(reference))


def test_corpus_with_task_prefixes_singles_and_pairs(pair, corpus_lines):
    reference, ours = pair
    lines = corpus_lines[::7]
    texts = [PREFIXES[i % len(PREFIXES)] + line for i, line in enumerate(lines)]
    kwargs = dict(return_offsets_mapping=True, return_special_tokens_mask=True)
    assert_same(ours(texts, **kwargs), reference(texts, **kwargs), texts, "nomic/singles")
    firsts, seconds = texts[0:-1:2], texts[1::2]
    kwargs.update(truncation=True, max_length=40)
    assert_same(ours(firsts, seconds, **kwargs), reference(firsts, seconds, **kwargs), firsts, "nomic/pairs", seconds)
    packed = ours.encode_packed(texts, max_length=64)
    padded = reference(texts, truncation=True, max_length=64)["input_ids"]
    assert packed["input_ids"].tolist() == [i for row in padded for i in row]
    assert np.diff(packed["cu_seqlens"]).tolist() == [len(row) for row in padded]

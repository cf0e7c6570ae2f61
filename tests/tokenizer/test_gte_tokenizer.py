"""GTE's two tokenizers through fastenc.Tokenizer: gte-*-en-v1.5's BERT WordPiece on the C++ core, gte-multilingual's
XLM-R SentencePiece (Unigram) on the `tokenizers` fallback; both equal to the transformers tokenizer on the shared
multilingual corpus, singles and truncated pairs, with offsets."""
import pytest

from fastenc.tokenizer import Tokenizer
from real_vocab_checkpoints import write_tokenizer
from tokenizer_helpers import assert_same

VOCABS = {"gte-en": "bert-base-uncased", "gte-multilingual": "xlmr-unigram"}


@pytest.fixture(scope="module", params=list(VOCABS))
def pair(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    reference = write_tokenizer("gte", folder, VOCABS[request.param])
    return request.param, reference, Tokenizer.from_pretrained(folder)


def test_core_and_special_tokens(pair):
    name, reference, ours = pair
    assert ours.is_native == (name == "gte-en")  # WordPiece runs in C++; Unigram has no C++ core
    for attribute in ("cls_token", "sep_token", "pad_token", "mask_token", "cls_token_id", "mask_token_id"):
        assert getattr(ours, attribute) == getattr(reference, attribute), attribute
    assert len(ours) == len(reference)


def test_corpus_singles_and_pairs_with_offsets(pair, corpus_lines):
    name, reference, ours = pair
    lines = corpus_lines[::5]
    kwargs = dict(return_offsets_mapping=True, return_special_tokens_mask=True)
    assert_same(ours(lines, **kwargs), reference(lines, **kwargs), lines, f"{name}/singles")
    firsts, seconds = lines[0:-1:4], lines[1::4]
    kwargs.update(truncation=True, max_length=32)
    assert_same(ours(firsts, seconds, **kwargs), reference(firsts, seconds, **kwargs), firsts, f"{name}/pairs",
                seconds)

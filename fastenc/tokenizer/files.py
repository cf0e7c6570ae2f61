"""Read a hub-layout tokenizer folder into a `TokenizerSpec`: the plain description the C++ core is built from.

Two sources, as transformers reads them: `tokenizer.json` when present; otherwise `vocab.txt` (WordPiece) or
`vocab.json` + `merges.txt` (byte-level BPE) with `tokenizer_config.json` / `special_tokens_map.json`. A
`tokenizer.json` whose pipeline the core does not implement yields `spec.native = False` and runs through the
`tokenizers` library instead (see fallback.py).
"""
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..hub import check_file_size, read_json_file, read_text_file

log = logging.getLogger(__name__)

# transformers classes whose models take no token_type_ids (their `model_input_names`).
# (DeBERTa's v1 and v2 tokenizers do return token_type_ids.)
_NO_TYPE_IDS = ("Roberta", "XLMRoberta", "Camembert", "GPT2", "Longformer", "Bart", "DistilBert", "MPNet",
                "Bloom", "Llama", "Mistral", "Qwen")
# The special-token roles transformers knows, with the attribute names it gives them.
ROLES = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


@dataclass
class TokenizerSpec:
    native: bool                      # False: the `tokenizers` library runs it
    kind: str = ""                    # "wordpiece" | "byte_level_bpe"
    vocab: dict = field(default_factory=dict)  # token -> id (model vocabulary, added tokens excluded)
    merges: list = field(default_factory=list)  # [(left, right)] in rank order
    unk_token: str | None = None
    continuing_subword_prefix: str = "##"
    max_input_chars_per_word: int = 100
    normalizer: dict = field(default_factory=lambda: dict(normalizer=False, clean_text=True, handle_chinese_chars=True,
                                                          strip_accents=False, lowercase=False))
    add_prefix_space: bool = False
    nfc: bool = False  # byte-level BPE behind an NFC normalizer (ModernBERT, OLMo): texts NFC would change run through
    # the tokenizers library, whose offsets point into the original text; every other text is already NFC
    trim_offsets: bool = False
    added_tokens: list = field(default_factory=list)  # dicts as in tokenizer.json `added_tokens`
    single: list = field(default_factory=list)  # template pieces (sequence, ids, type_id); sequence -1: special
    pair: list = field(default_factory=list)
    decoder: dict = field(default_factory=dict)  # {"type": "WordPiece", "prefix", "cleanup"} | {"type": "ByteLevel"}
    config: dict = field(default_factory=dict)  # tokenizer_config.json merged over special_tokens_map.json
    tokenizer_json: Path | None = None

    @property
    def model_input_names(self):
        names = self.config.get("model_input_names")
        if names:
            return list(names)
        cls = self.config.get("tokenizer_class") or ""
        if any(cls.startswith(prefix) for prefix in _NO_TYPE_IDS):
            return ["input_ids", "attention_mask"]
        return ["input_ids", "token_type_ids", "attention_mask"]


class TokenizerFileError(ValueError):
    """A tokenizer file we cannot read (too big, not UTF-8, not JSON, unexpected structure): names the file."""


def _read_json(path: Path) -> dict:
    return read_json_file(path, TokenizerFileError) if path.is_file() else {}


def _token_content(value):
    """special_tokens_map values are strings or AddedToken dicts."""
    if isinstance(value, dict):
        return value.get("content")
    return value


def read_configs(folder: Path) -> dict:
    config = {k: _token_content(v) for k, v in _read_json(folder / "special_tokens_map.json").items()
              if k in ROLES}
    tokenizer_config = _read_json(folder / "tokenizer_config.json")
    for key, value in tokenizer_config.items():
        config[key] = _token_content(value) if key in ROLES else value
    return config


def read_folder(folder: Path) -> TokenizerSpec:
    config = read_configs(folder)
    source = folder
    try:
        if (folder / "tokenizer.json").is_file():
            source = folder / "tokenizer.json"
            spec = from_tokenizer_json(source)
        elif (folder / "vocab.txt").is_file():
            source = folder / "vocab.txt"
            spec = from_vocab_txt(source, config)
        elif (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
            source = folder / "vocab.json"
            spec = from_vocab_json(source, folder / "merges.txt", config)
        else:
            raise FileNotFoundError(f"{folder} holds no tokenizer.json, vocab.txt or vocab.json + merges.txt")
        _check_vocab(spec, source)
    except (KeyError, TypeError, AttributeError, IndexError) as e:  # valid JSON, wrong structure
        raise TokenizerFileError(f"{str(source)!r} is not a tokenizer file we understand: "
                                 f"{type(e).__name__}: {e}") from e
    spec.config = config
    return spec


def _check_vocab(spec: TokenizerSpec, source: Path) -> None:
    """The C++ core takes str -> non-negative int vocabularies; anything else is a broken file, said here."""
    if not spec.native:
        return  # the tokenizers library checks its own input
    _check_vocab_ids(spec.vocab, source)
    if not all(isinstance(t, dict) and isinstance(t.get("content"), str) and type(t.get("id")) is int
               for t in spec.added_tokens):
        raise TokenizerFileError(f"{str(source)!r}: added tokens need a str content and an int id")


# ---------------------------------------------------------------------------------------------------------------
# tokenizer.json

def _template(pieces, special_tokens):
    out = []
    for piece in pieces:
        if "SpecialToken" in piece:
            token = piece["SpecialToken"]
            out.append((-1, list(special_tokens[token["id"]]["ids"]), token["type_id"]))
        else:
            seq = piece["Sequence"]
            out.append((0 if seq["id"] == "A" else 1, [], seq["type_id"]))
    return out


def _post_processor(pp, spec: TokenizerSpec) -> bool:
    """Fills spec.single/pair/trim_offsets; False when the post-processor is not one we implement."""
    spec.single, spec.pair = [(0, [], 0)], [(0, [], 0), (1, [], 1)]
    if pp is None:
        return True
    kind = pp.get("type")
    if kind == "Sequence":
        return all(_post_processor_step(step, spec) for step in pp["processors"])
    return _post_processor_step(pp, spec)


def _post_processor_step(pp, spec: TokenizerSpec) -> bool:
    kind = pp.get("type")
    if kind == "TemplateProcessing":
        spec.single = _template(pp["single"], pp["special_tokens"])
        spec.pair = _template(pp["pair"], pp["special_tokens"])
    elif kind == "RobertaProcessing":
        cls, sep = pp["cls"][1], pp["sep"][1]
        spec.single = [(-1, [cls], 0), (0, [], 0), (-1, [sep], 0)]
        spec.pair = [(-1, [cls], 0), (0, [], 0), (-1, [sep, sep], 0), (1, [], 0), (-1, [sep], 0)]
        spec.trim_offsets = bool(pp.get("trim_offsets", True))
    elif kind == "BertProcessing":
        cls, sep = pp["cls"][1], pp["sep"][1]
        spec.single = [(-1, [cls], 0), (0, [], 0), (-1, [sep], 0)]
        spec.pair = [(-1, [cls], 0), (0, [], 0), (-1, [sep], 0), (1, [], 1), (-1, [sep], 1)]
    elif kind == "ByteLevel":
        spec.trim_offsets = bool(pp.get("trim_offsets", True))
    else:
        return False
    return True


def _check_vocab_ids(vocab, source: Path) -> None:
    if not isinstance(vocab, dict) or not all(isinstance(k, str) and type(v) is int and v >= 0
                                              for k, v in vocab.items()):
        raise TokenizerFileError(f"{str(source)!r}: the vocabulary must map token strings to non-negative int ids")


def from_tokenizer_json(path: Path) -> TokenizerSpec:
    data = read_json_file(path, TokenizerFileError)
    spec = TokenizerSpec(native=False, tokenizer_json=path)
    spec.added_tokens = [dict(t) for t in data.get("added_tokens") or []]
    model, normalizer, pre = data.get("model") or {}, data.get("normalizer"), data.get("pre_tokenizer") or {}
    decoder = data.get("decoder") or {}
    supported = _post_processor(data.get("post_processor"), spec)
    if model.get("type") == "WordPiece":
        supported = supported and pre.get("type") == "BertPreTokenizer" and (
            normalizer is None or normalizer.get("type") == "BertNormalizer")
        supported = supported and decoder.get("type") in (None, "WordPiece")
        if supported:
            spec.kind = "wordpiece"
            spec.vocab = model["vocab"]
            spec.unk_token = model.get("unk_token")
            spec.continuing_subword_prefix = model.get("continuing_subword_prefix") or ""
            spec.max_input_chars_per_word = model.get("max_input_chars_per_word", 100)
            if normalizer is not None:
                lowercase = bool(normalizer.get("lowercase", True))
                strip = normalizer.get("strip_accents")
                spec.normalizer = dict(normalizer=True, clean_text=bool(normalizer.get("clean_text", True)),
                                       handle_chinese_chars=bool(normalizer.get("handle_chinese_chars", True)),
                                       strip_accents=lowercase if strip is None else bool(strip), lowercase=lowercase)
            spec.decoder = dict(type="WordPiece", prefix=decoder.get("prefix", "##"),
                                cleanup=decoder.get("cleanup", True)) if decoder else dict(type="none")
    elif model.get("type") == "BPE":
        plain = (not model.get("dropout") and not model.get("continuing_subword_prefix")
                 and not model.get("end_of_word_suffix") and not model.get("byte_fallback")
                 and not model.get("ignore_merges"))
        nfc = normalizer is not None and normalizer.get("type") == "NFC"
        supported = (supported and plain and (normalizer is None or nfc) and pre.get("type") == "ByteLevel"
                     and pre.get("use_regex", True) and decoder.get("type") == "ByteLevel")
        if supported:
            spec.kind = "byte_level_bpe"
            spec.vocab = model["vocab"]
            spec.merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
            spec.unk_token = model.get("unk_token")
            spec.add_prefix_space = bool(pre.get("add_prefix_space", False))
            spec.decoder = dict(type="ByteLevel")
            spec.nfc = nfc
    else:
        supported = False
    spec.native = bool(supported)
    if not spec.native:
        log.debug("%s: model %s with normalizer %s / pre-tokenizer %s is not built into fastenc; "
                  "using the tokenizers library", path, model.get("type"), (normalizer or {}).get("type"),
                  pre.get("type"))
    return spec


# ---------------------------------------------------------------------------------------------------------------
# vocab.txt / vocab.json + merges.txt, configured the way transformers 5 builds BertTokenizer / RobertaTokenizer

def _added_from_config(config: dict, vocab: dict, defaults: dict) -> list:
    """Special tokens as transformers registers them: each role's token, with its vocabulary id (or a new one)."""
    declared = {}
    for id_str, token in (config.get("added_tokens_decoder") or {}).items():
        declared[token["content"]] = dict(token, id=int(id_str))
    next_id = max(list(vocab.values()) + [-1]) + 1
    added = []
    for role, default in defaults.items():
        content = config.get(role, default)
        if content is None or any(t["content"] == content for t in added):
            continue
        token = declared.pop(content, None) or dict(content=content, single_word=False, lstrip=False, rstrip=False,
                                                    normalized=False, special=True)
        if "id" not in token:
            token["id"] = vocab.get(content, next_id)
            next_id += token["id"] == next_id
        added.append(token)
    added.extend(declared.values())
    return sorted(added, key=lambda t: t["id"])


def _id_of(spec: TokenizerSpec, content):
    for t in spec.added_tokens:
        if t["content"] == content:
            return t["id"]
    return spec.vocab.get(content)


# MPNetTokenizer's special tokens (transformers' defaults): RoBERTa's, with BERT's [UNK].
_MPNET_ROLES = dict(bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>", unk_token="[UNK]",
                    pad_token="<pad>", mask_token="<mask>")


def from_vocab_txt(path: Path, config: dict) -> TokenizerSpec:
    vocab = {}
    check_file_size(path, TokenizerFileError)
    try:
        with open(path, encoding="utf-8") as f:
            for index, line in enumerate(f):
                vocab[line.rstrip("\n").rstrip("\r")] = index
    except UnicodeDecodeError as e:
        raise TokenizerFileError(f"{str(path)!r} is not UTF-8 text: {e}") from e
    lowercase = bool(config.get("do_lower_case", True))
    strip = config.get("strip_accents")
    mpnet = (config.get("tokenizer_class") or "").startswith("MPNet")
    spec = TokenizerSpec(native=True, kind="wordpiece", vocab=vocab)
    spec.normalizer = dict(normalizer=True, clean_text=True,
                           handle_chinese_chars=bool(config.get("tokenize_chinese_chars", True)),
                           strip_accents=lowercase if strip is None else bool(strip), lowercase=lowercase)
    defaults = dict(pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    if mpnet:  # MPNetTokenizer: WordPiece with RoBERTa's special tokens, template and a mask that eats the space
        defaults = _MPNET_ROLES
        for role, token in defaults.items():
            config.setdefault(role, token)  # the roles the Tokenizer reads, where the config names none
    spec.added_tokens = _added_from_config(config, vocab, defaults)
    spec.unk_token = config.get("unk_token", "[UNK]")
    cls, sep = _id_of(spec, config.get("cls_token", "[CLS]")), _id_of(spec, config.get("sep_token", "[SEP]"))
    spec.single = [(-1, [cls], 0), (0, [], 0), (-1, [sep], 0)]
    spec.pair = [(-1, [cls], 0), (0, [], 0), (-1, [sep], 0), (1, [], 1), (-1, [sep], 1)]
    if mpnet:
        spec.pair = [(-1, [cls], 0), (0, [], 0), (-1, [sep, sep], 0), (1, [], 0), (-1, [sep], 0)]
        spec.trim_offsets = True  # its RobertaProcessing's: the space the mask absorbs is left out of its offsets
        mask = config.get("mask_token")
        for token in spec.added_tokens:
            if token["content"] == mask and "lstrip" not in (config.get("added_tokens_decoder") or {}).get(
                    str(token["id"]), {}):
                token["lstrip"] = True
    spec.decoder = dict(type="WordPiece", prefix="##", cleanup=True)
    return spec


def from_vocab_json(vocab_path: Path, merges_path: Path, config: dict) -> TokenizerSpec:
    vocab = read_json_file(vocab_path, TokenizerFileError)
    _check_vocab_ids(vocab, vocab_path)
    merges = []
    for line in read_text_file(merges_path, TokenizerFileError).splitlines():
        if line.startswith("#version") or not line.strip():
            continue
        left, _, right = line.partition(" ")
        merges.append((left, right))
    spec = TokenizerSpec(native=True, kind="byte_level_bpe", vocab=vocab, merges=merges)
    spec.add_prefix_space = bool(config.get("add_prefix_space", False))
    spec.trim_offsets = bool(config.get("trim_offsets", True))
    gpt2 = (config.get("tokenizer_class") or "").startswith("GPT2")
    defaults = (dict(bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>") if gpt2 else
                dict(bos_token="<s>", pad_token="<pad>", eos_token="</s>", unk_token="<unk>", mask_token="<mask>"))
    spec.added_tokens = _added_from_config(config, vocab, defaults)
    if gpt2:
        spec.single, spec.pair = [(0, [], 0)], [(0, [], 0), (1, [], 1)]
    else:
        cls, sep = _id_of(spec, config.get("cls_token", "<s>")), _id_of(spec, config.get("sep_token", "</s>"))
        spec.single = [(-1, [cls], 0), (0, [], 0), (-1, [sep], 0)]
        spec.pair = [(-1, [cls], 0), (0, [], 0), (-1, [sep, sep], 0), (1, [], 0), (-1, [sep], 0)]
    spec.decoder = dict(type="ByteLevel")
    return spec

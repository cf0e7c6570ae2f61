"""Deterministic random tokenizer inputs (seeded `random.Random`) and the comparison of one batch against HF, shared
by the fuzz driver (scripts/fuzz_tokenizer.py, `make fuzz`) and the bounded CI run (test_fuzz_random.py).

Texts are concatenations of segments drawn from the places tokenizers get wrong: every Unicode plane outside the
surrogates, runs of combining marks from every combining block and script attached to letters of other scripts,
whitespace and control characters, CJK, emoji sequences, special-token look-alikes, case-folding edge cases, words
around the 100-character WordPiece limit, and (rarely) very long inputs."""
import random
import time
import unicodedata
from dataclasses import dataclass, field


def _chars(*ranges):
    out = []
    for r in ranges:
        out.extend(range(r[0], r[1] + 1) if isinstance(r, tuple) else [r])
    return [chr(c) for c in out]


# Every mark Python knows (Mn, Mc, Me, all scripts) plus the named blocks in full, assigned or not.
MARK_BLOCKS = _chars((0x0300, 0x036F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F))
SCRIPT_MARKS = _chars((0x0900, 0x0903), (0x093A, 0x094F), (0x0951, 0x0957), (0x0962, 0x0963),  # Devanagari
                      0x0E31, (0x0E34, 0x0E3A), (0x0E47, 0x0E4E),  # Thai
                      (0x0591, 0x05C7),  # Hebrew points and accents
                      (0x064B, 0x065F), 0x0670, (0x06D6, 0x06ED),  # Arabic harakat
                      (0x0F71, 0x0F84), (0x302A, 0x302F), (0x3099, 0x309A), (0x1D165, 0x1D169), (0x1D16D, 0x1D172))
ALL_MARKS = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c))[0] == "M"]
# Precomposed characters whose NFD carries marks (Latin, Greek, Tibetan, Hangul syllables decompose to jamo).
PRECOMPOSED = list("éÉèêëǘǕṩẶḉőŐåÅñÑçÇøØāǟȫṍᾏῼΐΰϓάЙёї") + _chars(0x0344, 0x0F73, 0x0F75, 0x0F81, 0x2126, 0x212B,
                                                                   (0xAC00, 0xAC10), 0xD7A3, 0x1E9B)
BASES = list("aeiouxyzAEIOUXYZ") + list("αβγΣσςжЖщԱաאבعربहकतกขงიაგ가한ㄱ中日本あアｱᄀ") + _chars(0x10000, 0x1D400)
SPACES = _chars(0x20, 0x09, 0x0A, 0x0D, 0x0B, 0x0C, 0x85, 0xA0, 0x1680, (0x2000, 0x200A), 0x2028, 0x2029, 0x202F,
                0x205F, 0x3000, 0x180E)
CONTROLS = _chars((0x00, 0x1F), (0x7F, 0x9F), 0xAD, (0x0600, 0x0605), 0x061C, 0x06DD, 0x070F, (0x200B, 0x200F),
                  (0x202A, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F), 0xFEFF, (0xFFF9, 0xFFFB), 0xFFFD, 0xFFFE,
                  0xFFFF, 0x110BD, (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), 0xE0001, (0xE0020, 0xE007F))
CJK = _chars((0x4E00, 0x4E20), (0x9FE0, 0x9FFF), (0x3400, 0x3410), (0x4DB0, 0x4DBF), (0x20000, 0x20010), 0x2A6DF,
             0x2A6E0, 0x2A700, 0x2B73F, 0x2B740, 0x2B81F, 0x2B820, 0x2B91F, 0x2B920, 0x2CEAF, 0x2CEB0, (0xF900, 0xF910),
             0xFAFF, (0x2F800, 0x2F810), 0x2FA1F, 0x3007, (0x3040, 0x3050), (0x30A0, 0x30B0), (0xFF01, 0xFF20),
             (0xFF61, 0xFF70), (0x2E80, 0x2E90), (0x3100, 0x3110), (0x31C0, 0x31C5))
EMOJI = ["😀", "👍", "❤", "☺", "✊", "🏳", "🏴", "👨", "👩", "👧", "🧑", "🦰", "🤷", "🫠", "🫸", "🇦", "🇿", "#", "1", "©"]
EMOJI_MODIFIERS = ["\u200d", "\ufe0f", "\ufe0e", "\u20e3"] + _chars((0x1F3FB, 0x1F3FF), (0xE0061, 0xE007A), 0xE007F)
EMOJI_SEQUENCES = ["👨‍👩‍👧‍👦", "🏳️‍🌈", "🏴‍☠️", "👍🏽", "🤷🏿‍♀️", "🇩🇪🇫🇷🇯", "#️⃣", "1️⃣", "❤️‍🔥",
                   "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", "🧑🏻‍🤝‍🧑🏿", "☺︎", "✌🏼"]
SPECIAL_LOOKALIKES = ["[MASK]", "[ mask ]", "[mask]", "[Mask]", "<mask>", "< mask >", "<MASK>", "<s>", "</s>", "<pad>",
                      "<unk>", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[cls]", "[MAS", "MASK]", "<mas", "ask>", "[CL",
                      "<s", "s>", "</", "[[MASK]]", "<<mask>>", "[MASK][MASK]", "<mask><mask>", "##", "##ing", "Ġ"]
CASE_EDGES = list("İıßẞΣσςﬁﬂﬀﬃﬅǅǈǋǲΐΰŉǰKÅΩⅫⓐⒶＡｚẞᲐꭰ") + ["\u0130\u0307", "I\u0307", "ΌΣΟΣ", "STRASSE"]
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»“”„‘’–—…・、。，！？€©®™§¶°±×÷") + ["'s", "'t", "'re", "'LL", "'d"]
WORDS = ["the", "a", "hello", "World", "tokenization", "unaffable", "don't", "naïve", "café", "Straße", "über",
         "résumé", "Ελλάδα", "Москва", "東京", "नमस्ते", "สวัสดี", "مرحبا", "שָׁלוֹם", "안녕", "1234", "3.14", "e-mail"]
PRIVATE_USE = [(0xE000, 0xF8FF), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD)]


def random_code_point(rng: random.Random) -> str:
    """Any scalar value: a plane chosen uniformly (so planes 1-16 are well represented), then any point in it."""
    plane = rng.randrange(17)
    while True:
        cp = (plane << 16) | rng.randrange(0x10000)
        if not 0xD800 <= cp <= 0xDFFF:
            return chr(cp)


def _cluster(rng):
    """A base letter of some script with a run of combining marks, possibly from other scripts and other blocks."""
    base = rng.choice(BASES + PRECOMPOSED) if rng.random() < 0.9 else ""
    pools = (MARK_BLOCKS, SCRIPT_MARKS, ALL_MARKS, PRECOMPOSED)
    return base + "".join(rng.choice(rng.choice(pools)) for _ in range(rng.choice((1, 1, 2, 3, 4, 6))))


def _long_word(rng):
    """Around the 100-character WordPiece limit, with or without multibyte and decomposing characters."""
    n = rng.choice((98, 99, 100, 101, 102, 200))
    alphabet = rng.choice(("abcdefghij", "aé", "жщ", "éÅǘ", "a\u0301", "中", "ab😀"))
    return "".join(rng.choice(alphabet) for _ in range(n))[:n]


SEGMENTS = [  # (weight, maker)
    (14, lambda r: r.choice(WORDS)),
    (10, lambda r: "".join(r.choice(SPACES) for _ in range(r.randint(1, 3)))),
    (6, lambda r: "".join(r.choice(CONTROLS) for _ in range(r.randint(1, 3)))),
    (8, lambda r: "".join(random_code_point(r) for _ in range(r.randint(1, 6)))),
    (2, lambda r: "".join(chr(r.randint(*r.choice(PRIVATE_USE))) for _ in range(r.randint(1, 3)))),
    (16, lambda r: "".join(_cluster(r) for _ in range(r.randint(1, 4)))),
    (6, lambda r: "".join(r.choice(CJK) for _ in range(r.randint(1, 6)))),
    (6, lambda r: r.choice(EMOJI_SEQUENCES) if r.random() < 0.5 else
        "".join(r.choice(EMOJI + EMOJI_MODIFIERS) for _ in range(r.randint(1, 6)))),
    (8, lambda r: r.choice(SPECIAL_LOOKALIKES)),
    (6, lambda r: "".join(r.choice(CASE_EDGES) for _ in range(r.randint(1, 3)))),
    (6, lambda r: "".join(r.choice(PUNCT) for _ in range(r.randint(1, 3)))),
    (2, _long_word),
]
_WEIGHTS = [w for w, _ in SEGMENTS]


def random_text(rng: random.Random) -> str:
    if rng.random() < 0.02:
        return rng.choice(("", " ", "\u200b", "[MASK]", "<mask>"))
    parts = []
    for _ in range(rng.choice((1, 2, 3, 4, 6, 8, 12))):
        maker = rng.choices(SEGMENTS, weights=_WEIGHTS)[0][1]
        parts.append(maker(rng))
        if rng.random() < 0.5:
            parts.append(" ")
    return "".join(parts)


def long_text(rng: random.Random) -> str:
    """10^4 to 10^5 characters: many segments, or one long run without spaces (the slow path of naive BPE)."""
    target = rng.choice((10_000, 30_000, 100_000))
    if rng.random() < 0.3:
        return (rng.choice(("a", "ab", "é", "ก", "中", "😀", "\u0301", "x\u1dfb\u0323")) * target)[:target]
    parts, size = [], 0
    while size < target:
        parts.append(random_text(rng))
        size += len(parts[-1]) + 1
    return " ".join(parts)


@dataclass
class Batch:
    """One call: texts (and pairs) with the keyword arguments every item shares, and how to call."""
    texts: list
    pairs: list | None
    kwargs: dict = field(default_factory=dict)
    single_calls: bool = False  # call once per item (str arguments) instead of once with lists
    threads: int = 1  # our num_threads (0: the whole pool)


def random_batch(rng: random.Random, long_fraction: float = 0.0005) -> Batch:
    size = rng.choice((1, 1, 2, 4, 8, 16, 32, 64))
    make = lambda: long_text(rng) if rng.random() < long_fraction else random_text(rng)  # noqa: E731
    texts = [make() for _ in range(size)]
    pairs = [make() for _ in range(size)] if rng.random() < 0.5 else None
    truncation = rng.choice((None, "longest_first", "only_first", "only_second", True))
    max_length = None if rng.random() < 0.3 else rng.choice((rng.randint(0, 48), 64, 128, 512))
    kwargs = dict(return_offsets_mapping=True, return_special_tokens_mask=True)
    if truncation is not None:
        kwargs["truncation"] = truncation
    if max_length is not None:
        kwargs["max_length"] = max_length
    if rng.random() < 0.1:
        kwargs["add_special_tokens"] = False
    return Batch(texts, pairs, kwargs, single_calls=rng.random() < 0.15, threads=0 if rng.random() < 0.05 else 1)


def batch_inputs(batch: Batch) -> int:
    return len(batch.texts)


def _call(tok, batch: Batch):
    """The outputs of one batch as a list of per-item dicts, or per item the exception type if the call raised."""
    if not batch.single_calls:
        try:
            out = tok(batch.texts, batch.pairs, **batch.kwargs)
        except Exception as e:  # HF raises for the whole batch when one item cannot be truncated
            return [type(e).__name__] * len(batch.texts)
        return [{k: v[i] for k, v in out.items()} for i in range(len(batch.texts))]
    rows = []
    for i, text in enumerate(batch.texts):
        try:
            rows.append(dict(tok(text, batch.pairs[i] if batch.pairs else None, **batch.kwargs)))
        except Exception as e:
            rows.append(type(e).__name__)
    return rows


def compare(ours, ref, batch: Batch) -> tuple:
    """([(item index, what differs, single call), ...], seconds our tokenizer took): the items where ours and the
    reference disagree, and whether they were called one at a time.

    Exceptions must agree on whether one is raised (ours raises ValueError where HF raises its own exception type).
    Decode is compared on every item's reference ids, with and without special tokens."""
    ours.num_threads = batch.threads or None
    start = time.perf_counter()
    got = _call(ours, batch)
    seconds = time.perf_counter() - start
    want = _call(ref, batch)
    if not batch.single_calls and isinstance(got[0], str) and isinstance(want[0], str) and len(batch.texts) > 1:
        # Both refused the batch: each item on its own must then agree too.
        failures = []
        for i, text in enumerate(batch.texts):
            item = Batch([text], [batch.pairs[i]] if batch.pairs else None, batch.kwargs, True, batch.threads)
            item_failures, item_seconds = compare(ours, ref, item)
            failures += [(i, what, True) for _, what, _ in item_failures]
            seconds += item_seconds
        return failures, seconds
    failures = []
    for i, (a, b) in enumerate(zip(got, want)):
        if isinstance(a, str) or isinstance(b, str):
            if isinstance(a, str) != isinstance(b, str):
                failures.append((i, f"raised: ours {a if isinstance(a, str) else 'no'}, "
                                    f"reference {b if isinstance(b, str) else 'no'}", batch.single_calls))
            continue
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                failures.append((i, f"{key}: ours {a.get(key)} reference {b.get(key)}", batch.single_calls))
                break
        else:
            skip = i % 2 == 1
            if ours.decode(b["input_ids"], skip_special_tokens=skip) != ref.decode(b["input_ids"],
                                                                                   skip_special_tokens=skip):
                failures.append((i, f"decode(skip_special_tokens={skip})", batch.single_calls))
    return failures, seconds

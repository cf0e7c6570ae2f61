"""Parity on strings built to break tokenizers: controls, zero-width and format characters, emoji sequences,
combining marks, words around max_input_chars_per_word, long runs without spaces, literal special tokens, mixed
scripts. Compared with offsets, singles and pairs, for every vocabulary and both loading paths."""
import pytest

from tokenizer_helpers import VOCABS, assert_same

ADVERSARIAL = [
    "", " ", "   ", "\t\n\r", "\x00", "\ufffd", "a\x00b", "a\x0bb\x0cc", "x\x85y", "\u200b", "a\u200bb", "soft\u00adhyphen",
    "nb\u00a0sp", "line\u2028sep", "para\u2029sep", "\u3000ideographic space", "zero\u200dwidth\u200cjoiner",
    "\ufeffbom", "rtl \u202eoverride\u202c", "\u0007bell", "\x7f\x80\x9f",
    "👍", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "🇩🇪🇫🇷", "👍🏽 skin", "a😀b😀c", "😀" * 30,
    "e\u0301", "é", "\u0301start", "a\u0301\u0302\u0303\u0304", "Z\u0351\u0352\u0353algo\u0354\u0355", "ǅungla",
    "İstanbul", "ΣΊΣΥΦΟΣ", "ﬁne ﬂow", "Straße", "Ⅻ Ⅳ", "①②③", "x²³", "\u0130\u0307",
    "a" * 99, "a" * 100, "a" * 101, "é" * 100, "é" * 101, "中" * 150, "ab" * 60,
    "thequickbrownfoxjumpsoverthelazydog" * 20, "ก" * 500, "สวัสดีครับยินดีต้อนรับ" * 20, "1234567890" * 40,
    "!!!???...,,,;;;" * 10, "'s 't 're 've 'm 'll 'd", "I'M YOU'RE we'LL", "don't''s'''", "  leading", "trailing  ",
    "a  b   c    d", "\n\nnewlines\n\n", " \t mixed \u00a0 spaces \u3000",
    "[CLS] [SEP] [MASK] [PAD] [UNK]", "[cls] [mask]", "x[MASK]y", "[MASK][MASK]", " [MASK] ", "<s> </s> <mask>",
    "a <mask> b", "a<mask>b", "<mask>", "  <mask>  ", "<pad><unk>",
    "Hello мир 世界 مرحبا שלום नमस्ते 안녕하세요 こんにちは", "ελληνικά العربية", "한국어텍스트", "ｆｕｌｌｗｉｄｔｈ",
    "$€¥£ ©®™ §¶", "<html><body>x</body></html>", "https://example.com/a?b=c&d=e#f", "e-mail@example.org",
    "1,000,000.50", "3.14159", "C++ & C#", "\\n\\t", "`~!@#$%^&*()_+-={}|[]\\:\";'<>?,./",
    "\U0001D400\U0001D401 math bold", "\U00020000\U0002A6DF ext-b", "\U0002B920 ext", "\uF900 compat",
    "\U000E0001 tag", "\U0010FFFF", "\uE000 private", "\u0378 unassigned", "\U0001FAF8 new emoji",
    "ǈ ǋ ǲ titlecase", "ß ẞ", "ΐ ΰ", "\u1e9e", "Ω Å K",
]


@pytest.mark.parametrize("name", list(VOCABS))
def test_adversarial_singles(tokenizer_pairs, name):
    pair = tokenizer_pairs[name]
    ref = pair.reference(ADVERSARIAL, return_offsets_mapping=True)
    for ours in (pair.from_files, pair.from_json):
        assert_same(ours(ADVERSARIAL, return_offsets_mapping=True), ref, ADVERSARIAL, f"{name}/adversarial")


@pytest.mark.parametrize("name", list(VOCABS))
def test_adversarial_pairs(tokenizer_pairs, name):
    pair = tokenizer_pairs[name]
    a, b = ADVERSARIAL, ADVERSARIAL[::-1]
    for kwargs in (dict(), dict(truncation="longest_first", max_length=16), dict(padding=True, return_tensors="np")):
        ref = pair.reference(a, b, return_offsets_mapping=True, **kwargs)
        for ours in (pair.from_files, pair.from_json):
            assert_same(ours(a, b, return_offsets_mapping=True, **kwargs), ref, a, f"{name}/adversarial {kwargs}",
                        b)


@pytest.mark.parametrize("name", list(VOCABS))
def test_adversarial_decode(tokenizer_pairs, name):
    pair = tokenizer_pairs[name]
    for ids in pair.reference(ADVERSARIAL)["input_ids"]:
        assert pair.from_files.decode(ids) == pair.reference.decode(ids)
        assert pair.from_files.decode(ids, skip_special_tokens=True) == \
            pair.reference.decode(ids, skip_special_tokens=True)


def test_long_pretokens_do_not_blow_up(tokenizer_pairs):
    """BPE merging is O(n log n): a 100k-character pre-token takes well under a second (naive merging: minutes)."""
    import time

    pair = tokenizer_pairs["roberta-base"]
    for text in ("a" * 100_000, "ก" * 30_000, "ab" * 50_000):
        start = time.perf_counter()
        ours = pair.from_files.encode(text, add_special_tokens=False)
        assert time.perf_counter() - start < 2.0
        assert ours == pair.reference.backend_tokenizer.encode(text, add_special_tokens=False).ids

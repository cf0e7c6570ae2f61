"""Generate csrc/unicode_tables.cpp: the per-code-point tables the C++ tokenizer core needs.

Why probe the installed `tokenizers` library instead of reading only `unicodedata`: exact parity means matching the
library, whose Unicode tables are older than Python's (unassigned-in-2016 characters are kept where a newer table
would drop them, Rust's `to_lowercase` follows Rust's Unicode version, onig's `\\p{L}` follows onig's). So every
property is measured on the library one code point at a time, and `unicodedata` serves as the cross-check: the script
prints how many code points differ from what Python's tables (Unicode %s) would say.

Output layout (compact and O(1) to query):
  * a two-stage table of 16-bit flags: stage1[cp >> 8] picks a 256-entry block in stage2 (identical blocks shared);
  * two sorted exception lists (canonical decomposition = the library's NFD of the lone character, and full
    lowercase), each entry (code point, offset, length) into a shared pool of code points. Characters absent from a
    list map to themselves;
  * a sorted list of (code point, canonical combining class) for the non-starters the library knows. Accent stripping
    is NFD of the whole text then removal of Mn, and NFD's canonical reordering moves marks across characters (which
    moves offsets, see csrc/normalizer_bert.cpp), so a per-character "strip" table cannot give HF's offsets.

Run: .venv/bin/python scripts/gen_unicode_tables.py   (rewrites csrc/unicode_tables.cpp; takes ~15 s)
"""
import sys
import unicodedata
from pathlib import Path

import tokenizers
from tokenizers import Regex, normalizers, pre_tokenizers

# Keep these bit values in sync with csrc/unicode.h.
BERT_DROP = 1 << 0  # removed by BERT clean_text (controls, U+0000, U+FFFD)
BERT_SPACE = 1 << 1  # turned into ' ' by BERT clean_text
BERT_PUNCT = 1 << 2  # isolated by BertPreTokenizer (ASCII punctuation or Unicode P*)
WHITESPACE = 1 << 3  # Rust char::is_whitespace (BertPreTokenizer split, added-token lstrip/rstrip)
RE_LETTER = 1 << 4  # \p{L} in the byte-level pre-tokenization regex
RE_NUMBER = 1 << 5  # \p{N} in that regex
RE_SPACE = 1 << 6  # \s in that regex
CJK = 1 << 7  # BERT handle_chinese_chars: surrounded with spaces
HAS_NFD = 1 << 8  # canonical decomposition differs from the character itself
HAS_LOWER = 1 << 9  # lowercase mapping differs from the character itself
NONSPACING = 1 << 10  # category Mn in the library's (old) table: removed by strip accents
NON_STARTER = 1 << 11  # canonical combining class > 0 in the library's NFD: reordered
REORDER_PROBE = "\u0345"  # combining class 240, the highest: NFD moves any non-starter c in front of it

CJK_RANGES = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
              (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]
OUT = Path(__file__).resolve().parents[1] / "csrc" / "unicode_tables.cpp"


def code_points():
    return (cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)


def probe():
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    nfd = normalizers.NFD()
    lower = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True)
    chinese = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=True, strip_accents=False,
                                         lowercase=False)
    bert_pre = pre_tokenizers.BertPreTokenizer()
    ws_split = pre_tokenizers.WhitespaceSplit()  # splits on Rust char::is_whitespace
    re_class = {flag: pre_tokenizers.Split(Regex(pattern), "removed")
                for flag, pattern in ((RE_LETTER, r"\p{L}"), (RE_NUMBER, r"\p{N}"), (RE_SPACE, r"\s"))}
    flags, nfd_map, ccc_map, lower_map = {}, {}, {}, {}
    for cp in code_points():
        c = chr(cp)
        f = 0
        cleaned = clean.normalize_str(c)
        if cleaned == "":
            f |= BERT_DROP
        elif cleaned == " " and c != " ":
            f |= BERT_SPACE
        if not ws_split.pre_tokenize_str(c):
            f |= WHITESPACE
        elif len(bert_pre.pre_tokenize_str("a" + c + "a")) == 3:
            f |= BERT_PUNCT
        for flag, splitter in re_class.items():
            if not splitter.pre_tokenize_str(c):
                f |= flag
        if chinese.normalize_str(c) != c:
            f |= CJK
        decomposed = nfd.normalize_str(c)
        if decomposed != c:
            f |= HAS_NFD
            nfd_map[cp] = decomposed
        elif strip.normalize_str(c) == "":  # a lone character that NFD keeps and stripping removes: Mn
            f |= NONSPACING
        # Combining classes never change once assigned (Unicode stability policy), so a non-starter the library
        # knows has Python's class; the library knows it when NFD reorders it before the class-240 probe.
        if unicodedata.combining(c) and decomposed == c and (
                c == REORDER_PROBE or nfd.normalize_str(REORDER_PROBE + c) == c + REORDER_PROBE):
            f |= NON_STARTER
            ccc_map[cp] = unicodedata.combining(c)
        low = lower.normalize_str(c)
        if low != c:
            f |= HAS_LOWER
            lower_map[cp] = low
        if f:
            flags[cp] = f
    return flags, nfd_map, ccc_map, lower_map


def cross_check(flags, nfd_map, ccc_map, lower_map):
    """Print how far the library is from Python's tables: documentation for anyone updating either."""
    def py_flags(cp):
        c, cat = chr(cp), unicodedata.category(chr(cp))
        f = 0
        if cp in (0, 0xFFFD) or (cat.startswith("C") and cat != "Cn" and c not in "\t\n\r"):
            f |= BERT_DROP
        if cat.startswith("L"):
            f |= RE_LETTER
        if cat.startswith("N"):
            f |= RE_NUMBER
        if cat.startswith("P") or (c.isascii() and not c.isalnum() and c.isprintable() and c != " "):
            f |= BERT_PUNCT
        if any(lo <= cp <= hi for lo, hi in CJK_RANGES):
            f |= CJK
        return f
    mask = BERT_DROP | RE_LETTER | RE_NUMBER | BERT_PUNCT | CJK
    diff = {}
    for cp in code_points():
        d = (flags.get(cp, 0) ^ py_flags(cp)) & mask
        for bit in (BERT_DROP, RE_LETTER, RE_NUMBER, BERT_PUNCT, CJK):
            if d & bit:
                diff[bit] = diff.get(bit, 0) + 1
    names = {BERT_DROP: "control (dropped)", RE_LETTER: "\\p{L}", RE_NUMBER: "\\p{N}", BERT_PUNCT: "punctuation",
             CJK: "CJK"}
    for bit, count in diff.items():
        print(f"  {names[bit]}: {count} code points differ from unicodedata {unicodedata.unidata_version}")
    low_diff = sum(1 for cp in code_points() if lower_map.get(cp, chr(cp)) != chr(cp).lower())
    print(f"  lowercase: {low_diff} code points differ from str.lower()")
    nfd_diff = sum(1 for cp in code_points() if nfd_map.get(cp, chr(cp)) != unicodedata.normalize("NFD", chr(cp)))
    print(f"  NFD: {nfd_diff} code points differ from unicodedata.normalize")
    ccc_unknown = sum(1 for cp in code_points() if unicodedata.combining(chr(cp)) and cp not in ccc_map
                      and cp not in nfd_map)
    print(f"  combining class: {ccc_unknown} non-starters of unicodedata are starters (unknown) to the library")


def two_stage(flags):
    blocks, block_index, stage1 = [], {}, []
    for hi in range(0x1100):
        block = tuple(flags.get((hi << 8) | lo, 0) for lo in range(256))
        if block not in block_index:
            block_index[block] = len(blocks)
            blocks.append(block)
        stage1.append(block_index[block])
    return stage1, blocks


def emit_array(ctype, name, values, per_line=24):
    rows = [", ".join(str(v) for v in values[i:i + per_line]) for i in range(0, len(values), per_line)]
    return f"const {ctype} {name}[{len(values)}] = {{\n" + ",\n".join("    " + r for r in rows) + "\n};\n"


def emit_classes(name, classes):
    entries = [f"{{{cp}, {ccc}}}" for cp, ccc in sorted(classes.items())]
    rows = [", ".join(entries[i:i + 8]) for i in range(0, len(entries), 8)]
    return (f"const CombiningClass {name}[{len(entries)}] = {{\n" + ",\n".join("    " + r for r in rows) + "\n};\n"
            f"const size_t {name}_size = {len(entries)};\n")


def emit_mapping(name, mapping, pool):
    entries = []
    for cp in sorted(mapping):
        target = [ord(ch) for ch in mapping[cp]]
        entries.append(f"{{{cp}, {len(pool)}, {len(target)}}}")
        pool.extend(target)
    rows = [", ".join(entries[i:i + 6]) for i in range(0, len(entries), 6)]
    return (f"const CharMapping {name}[{len(entries)}] = {{\n" + ",\n".join("    " + r for r in rows) + "\n};\n"
            f"const size_t {name}_size = {len(entries)};\n")


def main():
    flags, nfd_map, ccc_map, lower_map = probe()
    print(f"probed tokenizers {tokenizers.__version__}: {len(flags)} code points with flags, "
          f"{len(nfd_map)} decompositions, {len(ccc_map)} non-starters, {len(lower_map)} lowercase mappings")
    cross_check(flags, nfd_map, ccc_map, lower_map)
    stage1, blocks = two_stage(flags)
    pool = []
    body = [
        f"// GENERATED by scripts/gen_unicode_tables.py from tokenizers {tokenizers.__version__} "
        f"(cross-checked with unicodedata {unicodedata.unidata_version}). Do not edit.\n",
        '#include "unicode.h"\n\nnamespace fastenc::unicode_tables {\n\n',
        emit_array("uint16_t", "stage1", stage1),
        emit_array("uint16_t", "stage2", [v for block in blocks for v in block]),
        emit_mapping("decomposition", nfd_map, pool),
        emit_mapping("lowercase", lower_map, pool),
        emit_array("char32_t", "mapping_pool", pool),
        emit_classes("combining_class", ccc_map),
        "\n}  // namespace fastenc::unicode_tables\n",
    ]
    OUT.write_text("".join(body))
    print(f"wrote {OUT} ({len(blocks)} distinct blocks, pool of {len(pool)} code points)")


if __name__ == "__main__":
    sys.exit(main())

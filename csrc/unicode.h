// Per-code-point properties and UTF-8 helpers. The tables come from scripts/gen_unicode_tables.py, which measures
// them on the installed `tokenizers` library so that our normalizer and pre-tokenizers agree with it exactly.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fastenc {

namespace unicode_tables {
struct CharMapping {
    char32_t code_point;
    uint32_t offset;  // into mapping_pool
    uint32_t length;
};
extern const uint16_t stage1[];
extern const uint16_t stage2[];
struct CombiningClass {
    char32_t code_point;
    uint8_t value;
};
extern const CharMapping decomposition[];
extern const size_t decomposition_size;
extern const CharMapping lowercase[];
extern const size_t lowercase_size;
extern const char32_t mapping_pool[];
extern const CombiningClass combining_class[];
extern const size_t combining_class_size;
}  // namespace unicode_tables

namespace unicode {

// Keep in sync with scripts/gen_unicode_tables.py.
enum Flag : uint16_t {
    kBertDrop = 1 << 0,    // removed by BERT clean_text
    kBertSpace = 1 << 1,   // becomes ' ' in BERT clean_text
    kBertPunct = 1 << 2,   // isolated by the BERT pre-tokenizer
    kWhitespace = 1 << 3,  // Rust char::is_whitespace
    kLetter = 1 << 4,      // \p{L} of the byte-level regex
    kNumber = 1 << 5,      // \p{N} of the byte-level regex
    kRegexSpace = 1 << 6,  // \s of the byte-level regex
    kCjk = 1 << 7,         // BERT handle_chinese_chars
    kHasNfd = 1 << 8,      // canonical decomposition (the library's NFD) is not the identity
    kHasLower = 1 << 9,    // lowercase mapping is not the identity
    kNonspacing = 1 << 10,  // category Mn as the library sees it: removed by strip accents
    kNonStarter = 1 << 11,  // canonical combining class > 0: NFD reorders it
};

inline uint16_t flags(char32_t cp) {
    if (cp >= 0x110000) return 0;
    return unicode_tables::stage2[static_cast<size_t>(unicode_tables::stage1[cp >> 8]) * 256 + (cp & 0xFF)];
}

struct Mapped {
    const char32_t* data;
    uint32_t size;
};

// Only meaningful when the matching kHas* flag is set.
Mapped decomposition(char32_t cp);
Mapped lowercase(char32_t cp);
// Canonical combining class; 0 unless kNonStarter is set.
uint8_t combining_class(char32_t cp);

// Decodes UTF-8 (as produced by Python, hence valid; invalid bytes become U+FFFD rather than crashing).
void decode_utf8(const char* data, size_t size, std::vector<char32_t>& out);
void append_utf8(std::string& out, char32_t cp);
std::u32string utf8_to_u32(const std::string& s);

}  // namespace unicode
}  // namespace fastenc

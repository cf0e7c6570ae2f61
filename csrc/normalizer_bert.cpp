#include "normalizer_bert.h"

#include "unicode.h"

namespace fastenc {

namespace {
// Lowercasing runs after accent stripping, on every code point the stripping produced.
inline void push_lowered(const BertNormalizerOptions& options, char32_t c, uint32_t from, AlignedText& out) {
    if (options.lowercase && (unicode::flags(c) & unicode::kHasLower)) {
        unicode::Mapped m = unicode::lowercase(c);
        for (uint32_t k = 0; k < m.size; ++k) out.push(m.data[k], from);
    } else {
        out.push(c, from);
    }
}

inline void push_stripped(const BertNormalizerOptions& options, char32_t c, uint16_t f, uint32_t from,
                          AlignedText& out) {
    if (options.strip_accents && (f & unicode::kHasStrip)) {
        // NFD of the character minus its nonspacing marks (category Mn); may be empty.
        unicode::Mapped m = unicode::strip_accents(c);
        for (uint32_t k = 0; k < m.size; ++k) push_lowered(options, m.data[k], from, out);
    } else {
        push_lowered(options, c, from, out);
    }
}
}  // namespace

void normalize_bert(const BertNormalizerOptions& options, const char32_t* chars, uint32_t begin, uint32_t end,
                    AlignedText& out) {
    if (!options.enabled) {
        for (uint32_t i = begin; i < end; ++i) out.push(chars[i], i);
        return;
    }
    for (uint32_t i = begin; i < end; ++i) {
        char32_t c = chars[i];
        if (c < 0x80 && c > 0x20 && c != 0x7F) {  // printable ASCII: only lowercasing can change it
            out.push(options.lowercase && c >= 'A' && c <= 'Z' ? c + 32 : c, i);
            continue;
        }
        uint16_t f = unicode::flags(c);
        if (options.clean_text) {
            if (f & unicode::kBertDrop) continue;
            if (f & unicode::kBertSpace) {
                out.push(U' ', i);
                continue;
            }
        }
        if (options.handle_chinese_chars && (f & unicode::kCjk)) {
            out.push(U' ', i);
            push_stripped(options, c, f, i, out);
            out.push(U' ', i);
            continue;
        }
        push_stripped(options, c, f, i, out);
    }
}

}  // namespace fastenc

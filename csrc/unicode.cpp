#include "unicode.h"

#include <algorithm>

namespace fastenc::unicode {

namespace {
Mapped find(const unicode_tables::CharMapping* table, size_t size, char32_t cp) {
    const auto* end = table + size;
    const auto* it = std::lower_bound(table, end, cp,
                                      [](const unicode_tables::CharMapping& m, char32_t c) { return m.code_point < c; });
    if (it == end || it->code_point != cp) return {nullptr, 0};
    return {unicode_tables::mapping_pool + it->offset, it->length};
}
}  // namespace

Mapped decomposition(char32_t cp) {
    return find(unicode_tables::decomposition, unicode_tables::decomposition_size, cp);
}

uint8_t combining_class(char32_t cp) {
    const auto* table = unicode_tables::combining_class;
    const auto* end = table + unicode_tables::combining_class_size;
    const auto* it = std::lower_bound(
        table, end, cp, [](const unicode_tables::CombiningClass& e, char32_t c) { return e.code_point < c; });
    return it == end || it->code_point != cp ? 0 : it->value;
}

Mapped lowercase(char32_t cp) { return find(unicode_tables::lowercase, unicode_tables::lowercase_size, cp); }

void decode_utf8(const char* data, size_t size, std::vector<char32_t>& out) {
    out.clear();
    out.reserve(size);
    const auto* s = reinterpret_cast<const unsigned char*>(data);
    size_t i = 0;
    while (i < size) {
        unsigned char b = s[i];
        if (b < 0x80) {
            out.push_back(b);
            i += 1;
            continue;
        }
        int extra = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : -1;
        if (extra < 0) {
            out.push_back(0xFFFD);
            i += 1;
            continue;
        }
        char32_t cp = b & (0x3F >> extra);
        bool ok = true;
        for (int k = 1; k <= extra; ++k) {
            if (i + k >= size || (s[i + k] & 0xC0) != 0x80) {
                ok = false;
                break;
            }
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (!ok) {
            out.push_back(0xFFFD);
            i += 1;
            continue;
        }
        out.push_back(cp);
        i += extra + 1;
    }
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::u32string utf8_to_u32(const std::string& s) {
    std::vector<char32_t> cps;
    decode_utf8(s.data(), s.size(), cps);
    return std::u32string(cps.begin(), cps.end());
}

}  // namespace fastenc::unicode

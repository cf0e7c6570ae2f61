#include "pretokenizer.h"

#include "unicode.h"

namespace fastenc {

void pretokenize_bert(const char32_t* chars, uint32_t size, std::vector<Span>& words) {
    uint32_t word_begin = 0;
    bool in_word = false;
    for (uint32_t i = 0; i < size; ++i) {
        char32_t c = chars[i];
        bool space, punct;
        if (c < 0x80) {
            space = c == ' ' || (c >= 0x09 && c <= 0x0D);
            punct = (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
        } else {
            uint16_t f = unicode::flags(c);
            space = f & unicode::kWhitespace;
            punct = f & unicode::kBertPunct;
        }
        if (space || punct) {
            if (in_word) words.push_back({word_begin, i});
            in_word = false;
            if (punct) words.push_back({i, i + 1});
        } else if (!in_word) {
            in_word = true;
            word_begin = i;
        }
    }
    if (in_word) words.push_back({word_begin, size});
}

namespace {
enum Class : uint8_t { kLetterClass, kNumberClass, kSpaceClass, kOtherClass };

inline Class classify(char32_t c) {
    if (c < 0x80) {
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return kLetterClass;
        if (c >= '0' && c <= '9') return kNumberClass;
        if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return kSpaceClass;
        return kOtherClass;
    }
    uint16_t f = unicode::flags(c);
    if (f & unicode::kLetter) return kLetterClass;
    if (f & unicode::kNumber) return kNumberClass;
    if (f & unicode::kRegexSpace) return kSpaceClass;
    return kOtherClass;
}

// Length of a contraction ('s 't 're 've 'm 'll 'd, case-sensitive) starting at i, or 0.
inline uint32_t contraction(const char32_t* chars, uint32_t size, uint32_t i) {
    if (chars[i] != '\'' || i + 1 >= size) return 0;
    char32_t a = chars[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 < size) {
        char32_t b = chars[i + 2];
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    }
    return 0;
}
}  // namespace

void pretokenize_byte_level(const char32_t* chars, uint32_t size, std::vector<Span>& words) {
    // Classes are computed once; the scanner below looks at each code point a bounded number of times.
    static thread_local std::vector<Class> classes;
    classes.resize(size);
    for (uint32_t i = 0; i < size; ++i) classes[i] = classify(chars[i]);

    uint32_t i = 0;
    while (i < size) {
        if (uint32_t n = contraction(chars, size, i)) {
            words.push_back({i, i + n});
            i += n;
            continue;
        }
        // ` ?X+` for X in {letter, number, other}: an optional single literal space, then a run of one class.
        uint32_t j = i;
        if (chars[j] == ' ' && j + 1 < size && classes[j + 1] != kSpaceClass) ++j;
        Class c = classes[j];
        if (c != kSpaceClass) {
            uint32_t k = j + 1;
            while (k < size && classes[k] == c) ++k;
            words.push_back({i, k});
            i = k;
            continue;
        }
        // Whitespace run [i, k). `\s+(?!\S)` keeps the last space for the next word when a non-space follows;
        // a lone space before a non-space falls through to `\s+`.
        uint32_t k = i + 1;
        while (k < size && classes[k] == kSpaceClass) ++k;
        if (k < size && k - i >= 2) k -= 1;
        words.push_back({i, k});
        i = k;
    }
}

}  // namespace fastenc

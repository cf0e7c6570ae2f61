#include "normalizer_bert.h"

#include <algorithm>

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

// Accent stripping as HF does it: NFD of the whole text, then removal of category Mn, then lowercasing.
//
// Why a stream with a pending run rather than a per-character table: NFD sorts every run of non-starters (combining
// class > 0) by class, across the characters they came from, and HF's NormalizedString then hands out origins by
// position, not by character: each code point that starts a character's decomposition takes the origin of the next
// input character in order, each further code point of a decomposition takes the origin last handed out. So when
// reordering moves a kept mark (one HF's old Mn table does not know, such as U+1DFB) behind a stripped one, the kept
// mark inherits the stripped one's origin, and offsets move with it.
class AccentStripper {
public:
    AccentStripper(const BertNormalizerOptions& options, AlignedText& out) : options_(options), out_(out) {}

    // One input code point (after clean-up and CJK spacing) and the original index it came from.
    void feed(char32_t c, uint16_t f, uint32_t from) {
        if (!(f & (unicode::kHasNfd | unicode::kNonStarter))) {  // a starter that NFD leaves alone
            flush();
            emit(c, f, from);
            return;
        }
        if (!(f & unicode::kHasNfd)) {
            add(c, f, true, from);
            return;
        }
        unicode::Mapped m = unicode::decomposition(c);
        for (uint32_t k = 0; k < m.size; ++k) add(m.data[k], unicode::flags(m.data[k]), k == 0, from);
    }

    // Sorts and emits the pending run; call once more after the last code point.
    void flush() {
        if (run_.empty()) return;
        std::stable_sort(run_.begin(), run_.end(), [](const Mark& a, const Mark& b) { return a.ccc < b.ccc; });
        size_t next_origin = 0;
        for (const Mark& m : run_) {
            if (m.first) last_origin_ = run_origins_[next_origin++];
            if (!(m.flags & unicode::kNonspacing)) push_lowered(options_, m.c, last_origin_, out_);
        }
        run_.clear();
        run_origins_.clear();
    }

private:
    struct Mark {
        char32_t c;
        uint16_t flags;
        uint8_t ccc;
        bool first;  // the first code point of its character's decomposition
    };

    void add(char32_t c, uint16_t f, bool first, uint32_t from) {
        if (!(f & unicode::kNonStarter)) {  // a starter ends the run; it is never reordered
            flush();
            if (first) last_origin_ = from;
            if (!(f & unicode::kNonspacing)) push_lowered(options_, c, last_origin_, out_);
            return;
        }
        run_.push_back({c, f, unicode::combining_class(c), first});
        if (first) run_origins_.push_back(from);  // handed out in input order, whatever order the marks take
    }

    void emit(char32_t c, uint16_t f, uint32_t from) {
        last_origin_ = from;
        if (!(f & unicode::kNonspacing)) push_lowered(options_, c, from, out_);
    }

    const BertNormalizerOptions& options_;
    AlignedText& out_;
    std::vector<Mark> run_;
    std::vector<uint32_t> run_origins_;
    // Only read before it is set if a run's first code point continued a decomposition, which canonical order rules
    // out (HF would give that code point the empty offset (0, 0)).
    uint32_t last_origin_ = 0;
};

// The per-code-point step after clean-up and CJK spacing: stripping (which may hold code points back) or lowercasing.
template <bool kStrip>
inline void push_cleaned(const BertNormalizerOptions& options, AccentStripper& stripper, char32_t c, uint16_t f,
                         uint32_t from, AlignedText& out) {
    if constexpr (kStrip)
        stripper.feed(c, f, from);
    else
        push_lowered(options, c, from, out);
}

template <bool kStrip>
void normalize_enabled(const BertNormalizerOptions& options, const char32_t* chars, uint32_t begin, uint32_t end,
                       AlignedText& out) {
    AccentStripper stripper(options, out);
    for (uint32_t i = begin; i < end; ++i) {
        char32_t c = chars[i];
        if (c < 0x80 && c > 0x20 && c != 0x7F) {  // printable ASCII: a starter that only lowercasing can change
            char32_t lowered = options.lowercase && c >= 'A' && c <= 'Z' ? c + 32 : c;
            if constexpr (kStrip) {
                stripper.feed(lowered, 0, i);
            } else {
                out.push(lowered, i);
            }
            continue;
        }
        uint16_t f = unicode::flags(c);
        if (options.clean_text) {
            if (f & unicode::kBertDrop) continue;
            if (f & unicode::kBertSpace) {
                push_cleaned<kStrip>(options, stripper, U' ', 0, i, out);
                continue;
            }
        }
        if (options.handle_chinese_chars && (f & unicode::kCjk)) {
            push_cleaned<kStrip>(options, stripper, U' ', 0, i, out);
            push_cleaned<kStrip>(options, stripper, c, f, i, out);
            push_cleaned<kStrip>(options, stripper, U' ', 0, i, out);
            continue;
        }
        push_cleaned<kStrip>(options, stripper, c, f, i, out);
    }
    stripper.flush();
}
}  // namespace

void normalize_bert(const BertNormalizerOptions& options, const char32_t* chars, uint32_t begin, uint32_t end,
                    AlignedText& out) {
    if (!options.enabled) {
        for (uint32_t i = begin; i < end; ++i) out.push(chars[i], i);
        return;
    }
    if (options.strip_accents)
        normalize_enabled<true>(options, chars, begin, end, out);
    else
        normalize_enabled<false>(options, chars, begin, end, out);
}

}  // namespace fastenc

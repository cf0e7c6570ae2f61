// BERT's normalizer (HF `BertNormalizer`): clean text, space out CJK ideographs, strip accents, lowercase, in that
// order, keeping for each output code point the original code point it came from.
#pragma once
#include "text.h"

namespace fastenc {

struct BertNormalizerOptions {
    bool enabled = true;  // false: the text passes through unchanged (byte-level BPE has no normalizer)
    bool clean_text = true;
    bool handle_chinese_chars = true;
    bool strip_accents = true;  // HF's `None` resolves to `lowercase` before we get here
    bool lowercase = true;
};

// Appends the normalized form of chars[begin, end) to `out`.
void normalize_bert(const BertNormalizerOptions& options, const char32_t* chars, uint32_t begin, uint32_t end,
                    AlignedText& out);

}  // namespace fastenc

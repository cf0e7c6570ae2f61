// After the model: truncation of one or two sequences and the post-processing template that adds special tokens
// and type ids ([CLS] A [SEP] B [SEP] for BERT, <s> A </s></s> B </s> for RoBERTa).
#pragma once
#include <cstdint>
#include <vector>

#include "text.h"

namespace fastenc {

struct TemplatePiece {
    int32_t sequence;           // -1: the special tokens in `ids`; 0: sequence A; 1: sequence B
    std::vector<int32_t> ids;   // special token ids (sequence == -1 only)
    int32_t type_id;
};

struct PostProcessor {
    std::vector<TemplatePiece> single;
    std::vector<TemplatePiece> pair;
    size_t added_tokens(bool is_pair) const;
};

enum class Truncation { kNone, kLongestFirst, kOnlyFirst, kOnlySecond };

struct EncodeOptions {
    bool add_special_tokens = true;
    Truncation truncation = Truncation::kNone;
    size_t max_length = 0;  // total length, special tokens included (used when truncation != kNone)
};

// One finished row: what the user receives, before padding.
struct Encoding {
    std::vector<int32_t> ids;
    std::vector<int32_t> type_ids;
    std::vector<uint32_t> starts;
    std::vector<uint32_t> ends;
    std::vector<uint8_t> special;  // 1 for tokens the template added
    void clear() {
        ids.clear();
        type_ids.clear();
        starts.clear();
        ends.clear();
        special.clear();
    }
};

// Shortens `a` (and `b`) in place as HF's post_process and truncate_encodings do; throws std::invalid_argument with
// HF's message when the strategy cannot reach the length.
void truncate(SequenceTokens& a, SequenceTokens* b, const PostProcessor& post, const EncodeOptions& options);

// Lays out the template (or, without special tokens, just the sequences with their type ids).
void apply_template(const SequenceTokens& a, const SequenceTokens* b, const PostProcessor& post,
                    bool add_special_tokens, Encoding& out);

}  // namespace fastenc

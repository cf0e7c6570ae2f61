// Added and special tokens: found in the text before the model runs, as HF's AddedVocabulary does. Tokens marked
// `normalized: false` (all special tokens of BERT and RoBERTa) are matched on the raw text; `normalized: true` ones
// on the normalized text. Matching is leftmost-longest; `lstrip`/`rstrip` absorb neighbouring whitespace into the
// token; `single_word` only accepts a match that is not inside a word.
#pragma once
#include <bitset>
#include <cstdint>
#include <string>
#include <vector>

#include "flat_map.h"

namespace fastenc {

struct AddedToken {
    std::u32string content;
    int32_t id = -1;
    bool special = false;
    bool lstrip = false;
    bool rstrip = false;
    bool single_word = false;
    bool normalized = false;
};

class AddedTokenMatcher {
public:
    explicit AddedTokenMatcher(const std::vector<AddedToken>& tokens);

    bool empty() const { return tokens_.empty(); }

    // A piece of the input: an added token (id >= 0) or text still to tokenize (id == -1). [begin, end) includes
    // the whitespace lstrip/rstrip absorbed; HF reports the token's offsets as [begin, end), or
    // [match_begin, match_end) when the post-processor trims offsets (RoBERTa, ByteLevel).
    struct Split {
        uint32_t begin;
        uint32_t end;
        int32_t id;
        uint32_t match_begin;
        uint32_t match_end;
    };

    // Cuts chars[0, size) into pieces that cover it in order (absorbed whitespace belongs to the token).
    void split(const char32_t* chars, uint32_t size, std::vector<Split>& out) const;

private:
    // Length of the longest token starting at `pos` (0 if none) and its index in tokens_.
    uint32_t longest_match(const char32_t* chars, uint32_t size, uint32_t pos, int32_t& token) const;

    std::vector<AddedToken> tokens_;
    FlatMap edges_{64};               // (node << 32 | code point) -> child node
    std::vector<int32_t> token_at_;   // index into tokens_ of the token ending at a node, -1 if none
    std::bitset<65536> may_start_;    // first code points (BMP) of some token: a cheap filter on every position
    bool astral_start_ = false;       // some token starts outside the BMP
};

}  // namespace fastenc

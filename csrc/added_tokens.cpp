#include "added_tokens.h"

#include <algorithm>

#include "unicode.h"

namespace fastenc {

namespace {
inline bool is_whitespace(char32_t c) { return unicode::flags(c) & unicode::kWhitespace; }
inline bool is_word_char(char32_t c) {
    return c == '_' || (unicode::flags(c) & (unicode::kLetter | unicode::kNumber));
}
}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens) : token_at_(1, -1) {
    for (const AddedToken& token : tokens) {
        if (token.content.empty()) continue;
        uint64_t node = 0;
        for (char32_t c : token.content) {
            uint64_t key = (node << 32) | c;
            if (const uint64_t* next = edges_.find(key)) {
                node = *next;
            } else {
                uint64_t created = token_at_.size();
                token_at_.push_back(-1);
                edges_.insert(key, created);
                node = created;
            }
        }
        token_at_[node] = static_cast<int32_t>(tokens_.size());
        tokens_.push_back(token);
        char32_t first = token.content[0];
        if (first < 65536)
            may_start_.set(first);
        else
            astral_start_ = true;
    }
}

uint32_t AddedTokenMatcher::longest_match(const char32_t* chars, uint32_t size, uint32_t pos, int32_t& token) const {
    uint64_t node = 0;
    uint32_t best = 0;
    for (uint32_t k = pos; k < size; ++k) {
        const uint64_t* next = edges_.find((node << 32) | chars[k]);
        if (!next) break;
        node = *next;
        if (token_at_[node] >= 0) {
            best = k + 1 - pos;
            token = token_at_[node];
        }
    }
    return best;
}

void AddedTokenMatcher::split(const char32_t* chars, uint32_t size, std::vector<Split>& out) const {
    uint32_t emitted = 0;  // everything before this is already in `out`
    uint32_t pos = 0;
    while (pos < size) {
        char32_t c = chars[pos];
        if (c < 65536 ? !may_start_.test(c) : !astral_start_) {
            ++pos;
            continue;
        }
        int32_t index = -1;
        uint32_t length = longest_match(chars, size, pos, index);
        if (length == 0) {
            ++pos;
            continue;
        }
        const AddedToken& token = tokens_[index];
        const uint32_t match_begin = pos, match_end = pos + length;
        uint32_t start = pos, stop = pos + length;
        pos = stop;  // the search resumes after the match itself, whatever stripping does below
        if (token.single_word) {
            bool word_before = start > 0 && is_word_char(chars[start - 1]);
            bool word_after = stop < size && is_word_char(chars[stop]);
            if (word_before || word_after) continue;
        }
        if (token.lstrip) {
            while (start > emitted && is_whitespace(chars[start - 1])) --start;
        }
        if (token.rstrip) {
            while (stop < size && is_whitespace(chars[stop])) ++stop;
        }
        start = std::max(start, emitted);
        if (emitted < start) out.push_back({emitted, start, -1, emitted, start});
        out.push_back({start, stop, token.id, std::max(match_begin, start), match_end});
        emitted = stop;
        pos = std::max(pos, stop);
    }
    if (emitted < size) out.push_back({emitted, size, -1, emitted, size});
}

}  // namespace fastenc

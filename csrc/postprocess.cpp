#include "postprocess.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace fastenc {

size_t PostProcessor::added_tokens(bool is_pair) const {
    size_t n = 0;
    for (const TemplatePiece& piece : is_pair ? pair : single)
        if (piece.sequence < 0) n += piece.ids.size();
    return n;
}

void truncate(SequenceTokens& a, SequenceTokens* b, const PostProcessor& post, const EncodeOptions& options) {
    if (options.truncation == Truncation::kNone) return;
    size_t max_length = options.max_length;
    if (options.add_special_tokens) {
        size_t added = post.added_tokens(b != nullptr);
        // HF computes max_length - added in usize, which wraps when max_length is smaller: no limit, no error.
        if (max_length < added) return;
        max_length -= added;
    }
    if (max_length == 0) {  // HF empties both sequences whatever the strategy, without raising
        a.truncate(0);
        if (b) b->truncate(0);
        return;
    }
    size_t total = a.size() + (b ? b->size() : 0);
    if (total <= max_length) return;
    size_t to_remove = total - max_length;
    switch (options.truncation) {
        case Truncation::kLongestFirst: {
            if (!b) {
                a.truncate(max_length);
                return;
            }
            // HF's three cases, with n1 the shorter length: nothing to do (handled above); only the longer one
            // shrinks; both shrink to half of max_length (the longer keeps the odd token).
            size_t n1 = a.size(), n2 = b->size();
            bool swapped = n1 > n2;
            if (swapped) std::swap(n1, n2);
            if (n1 > max_length)
                n2 = n1;
            else
                n2 = std::max(n1, max_length - n1);
            if (n1 + n2 > max_length) {
                n1 = max_length / 2;
                n2 = n1 + max_length % 2;
            }
            if (swapped) std::swap(n1, n2);
            a.truncate(n1);
            b->truncate(n2);
            return;
        }
        case Truncation::kOnlyFirst:
        case Truncation::kOnlySecond: {
            SequenceTokens* target = options.truncation == Truncation::kOnlyFirst ? &a : b;
            if (!target) throw std::invalid_argument("Truncation error: Second sequence not provided");
            if (target->size() <= to_remove)
                throw std::invalid_argument(
                    "Truncation error: Sequence to truncate too short to respect the provided max_length");
            target->truncate(target->size() - to_remove);
            return;
        }
        case Truncation::kNone:
            return;
    }
}

namespace {
void append_sequence(const SequenceTokens& s, int32_t type_id, Encoding& out) {
    out.ids.insert(out.ids.end(), s.ids.begin(), s.ids.end());
    out.starts.insert(out.starts.end(), s.starts.begin(), s.starts.end());
    out.ends.insert(out.ends.end(), s.ends.begin(), s.ends.end());
    out.type_ids.resize(out.ids.size(), type_id);
    out.special.resize(out.ids.size(), 0);
}
}  // namespace

void apply_template(const SequenceTokens& a, const SequenceTokens* b, const PostProcessor& post,
                    bool add_special_tokens, Encoding& out) {
    out.clear();
    for (const TemplatePiece& piece : b ? post.pair : post.single) {
        if (piece.sequence < 0) {
            if (!add_special_tokens) continue;
            for (int32_t id : piece.ids) {
                out.ids.push_back(id);
                out.type_ids.push_back(piece.type_id);
                out.starts.push_back(0);
                out.ends.push_back(0);
                out.special.push_back(1);
            }
        } else {
            append_sequence(piece.sequence == 0 ? a : *b, piece.type_id, out);
        }
    }
}

}  // namespace fastenc

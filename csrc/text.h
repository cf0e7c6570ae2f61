// The shapes that flow through the pipeline: a piece of (normalized) text that remembers, for every code point,
// which code point of the caller's original string it came from, and the tokens a model emits.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace fastenc {

// Normalized code points with their origin (index of the original code point each one came from). Offsets reported
// to the user are [origin of first, origin of last + 1), as HF's alignments give.
struct AlignedText {
    std::vector<char32_t> chars;
    std::vector<uint32_t> origin;

    void clear() {
        chars.clear();
        origin.clear();
    }
    void push(char32_t c, uint32_t from) {
        chars.push_back(c);
        origin.push_back(from);
    }
    size_t size() const { return chars.size(); }
};

// One sequence's tokens before post-processing: ids and [start, end) character offsets.
struct SequenceTokens {
    std::vector<int32_t> ids;
    std::vector<uint32_t> starts;
    std::vector<uint32_t> ends;

    void clear() {
        ids.clear();
        starts.clear();
        ends.clear();
    }
    void push(int32_t id, uint32_t start, uint32_t end) {
        ids.push_back(id);
        starts.push_back(start);
        ends.push_back(end);
    }
    size_t size() const { return ids.size(); }
    void truncate(size_t n) {
        if (n < ids.size()) {
            ids.resize(n);
            starts.resize(n);
            ends.resize(n);
        }
    }
};

}  // namespace fastenc

#include "wordpiece.h"

#include "unicode.h"

namespace fastenc {

void WordPiece::Trie::add(const std::string& piece, int32_t id) {
    uint64_t node = 0;
    for (unsigned char b : piece) {
        uint64_t key = (node << 8) | b;
        const uint64_t* next = edges.find(key);
        if (next) {
            node = *next;
        } else {
            uint64_t created = token_at.size();
            token_at.push_back(-1);
            edges.insert(key, created);
            node = created;
        }
    }
    // A duplicated token keeps the last id given, as HF's vocab.txt reader does.
    token_at[node] = id;
}

WordPiece::WordPiece(const std::vector<std::pair<std::string, int32_t>>& vocab, int32_t unk_id,
                     const std::string& continuing_prefix, uint32_t max_input_chars_per_word)
    : unk_id_(unk_id), max_chars_(max_input_chars_per_word) {
    for (const auto& [token, id] : vocab) {
        if (token.empty()) continue;
        initial_.add(token, id);
        if (!continuing_prefix.empty() && token.size() > continuing_prefix.size() &&
            token.compare(0, continuing_prefix.size(), continuing_prefix) == 0)
            continuation_.add(token.substr(continuing_prefix.size()), id);
    }
}

void WordPiece::encode_word(const AlignedText& text, uint32_t begin, uint32_t end, std::string& bytes,
                            SequenceTokens& out) const {
    uint32_t word_start = text.origin[begin];
    uint32_t word_end = text.origin[end - 1] + 1;
    if (end - begin > max_chars_) {
        out.push(unk_id_, word_start, word_end);
        return;
    }
    // UTF-8 bytes of the word, and for each byte the index (within the word) of the code point it belongs to.
    bytes.clear();
    thread_local std::vector<uint32_t> char_of_byte;
    char_of_byte.clear();
    for (uint32_t i = begin; i < end; ++i) {
        unicode::append_utf8(bytes, text.chars[i]);
        char_of_byte.resize(bytes.size(), i);
    }
    size_t rollback = out.size();
    size_t pos = 0;
    const size_t n = bytes.size();
    while (pos < n) {
        const Trie& trie = pos == 0 ? initial_ : continuation_;
        uint64_t node = 0;
        int32_t best_id = -1;
        size_t best_end = 0;
        // Walking the trie along the word finds every vocabulary piece that starts here; the last one seen is the
        // longest. Pieces are valid UTF-8, so a match always ends on a character boundary.
        for (size_t k = pos; k < n; ++k) {
            const uint64_t* next = trie.edges.find((node << 8) | static_cast<unsigned char>(bytes[k]));
            if (!next) break;
            node = *next;
            if (trie.token_at[node] >= 0) {
                best_id = trie.token_at[node];
                best_end = k + 1;
            }
        }
        if (best_id < 0) {
            out.truncate(rollback);
            out.push(unk_id_, word_start, word_end);
            return;
        }
        out.push(best_id, text.origin[char_of_byte[pos]], text.origin[char_of_byte[best_end - 1]] + 1);
        pos = best_end;
    }
}

}  // namespace fastenc

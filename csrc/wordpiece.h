// WordPiece (BERT): greedy longest match from the left; pieces after the first carry the `##` prefix in the
// vocabulary; a word longer than max_input_chars_per_word, or one with a position no piece covers, becomes [UNK].
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "flat_map.h"
#include "text.h"

namespace fastenc {

class WordPiece {
public:
    WordPiece(const std::vector<std::pair<std::string, int32_t>>& vocab, int32_t unk_id,
              const std::string& continuing_prefix, uint32_t max_input_chars_per_word);

    // Tokenizes text.chars[begin, end) (one pre-tokenized word) and appends to `out`.
    void encode_word(const AlignedText& text, uint32_t begin, uint32_t end, std::string& scratch,
                     SequenceTokens& out) const;

private:
    // Byte tries over the vocabulary: one for word-initial pieces (every token), one for continuation pieces
    // (tokens starting with the prefix, stored without it). Edges live in a FlatMap keyed by (node << 8 | byte).
    struct Trie {
        FlatMap edges{1024};
        std::vector<int32_t> token_at;  // token id ending at each node, -1 if none
        Trie() : token_at(1, -1) {}
        void add(const std::string& piece, int32_t id);
    };

    Trie initial_;
    Trie continuation_;
    int32_t unk_id_;
    uint32_t max_chars_;
};

}  // namespace fastenc

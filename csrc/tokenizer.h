// The tokenizer pipeline for one text (or pair): added-token split -> normalizer -> pre-tokenizer -> model ->
// truncation -> post-processing template. Built from a plain config; immutable afterwards, so any number of threads
// may encode with one instance at once.
#pragma once
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "added_tokens.h"
#include "bpe.h"
#include "normalizer_bert.h"
#include "postprocess.h"
#include "text.h"
#include "wordpiece.h"

namespace fastenc {

// A text as its owner holds it: UTF-8 bytes, or the fixed-width code units of a Python str (1, 2 or 4 bytes), read
// in place so that no thread has to convert it first. Offsets count code points either way.
struct TextView {
    const void* data = nullptr;
    size_t length = 0;  // in code units
    int width = 0;      // 0: UTF-8; 1, 2, 4: Latin-1, UCS-2, UCS-4
    TextView() = default;
    TextView(std::string_view utf8) : data(utf8.data()), length(utf8.size()) {}
    TextView(const void* units, size_t count, int unit_width) : data(units), length(count), width(unit_width) {}
};

// Thrown for a code point that is not a Unicode scalar value (a lone surrogate of a Python str).
struct InvalidCodePoint : std::invalid_argument {
    InvalidCodePoint(char32_t c, size_t i)
        : std::invalid_argument("lone surrogate"), code_point(c), index(i) {}
    char32_t code_point;
    size_t index;          // in code points
    bool in_pair = false;  // found in the second text of a pair
};

struct TokenizerConfig {
    enum class Model { kWordPiece, kByteLevelBpe };
    Model model = Model::kWordPiece;
    std::vector<std::pair<std::string, int32_t>> vocab;
    std::vector<std::pair<std::string, std::string>> merges;  // byte-level BPE only, in rank order
    int32_t unk_id = -1;                                       // WordPiece only
    std::string continuing_subword_prefix = "##";
    uint32_t max_input_chars_per_word = 100;
    BertNormalizerOptions normalizer;  // WordPiece: BERT normalizer; byte-level BPE: set enabled = false
    bool add_prefix_space = false;     // byte-level: prepend ' ' to each text piece that lacks one
    bool trim_offsets = false;         // byte-level: offsets exclude the spaces a token carries
    std::vector<AddedToken> added_tokens;
    PostProcessor post_processor;
};

class Tokenizer {
public:
    explicit Tokenizer(TokenizerConfig config);

    // `pair` may be null. Throws std::invalid_argument for impossible truncation, InvalidCodePoint for surrogates.
    void encode(TextView text, const TextView* pair, const EncodeOptions& options, Encoding& out) const;

    // The tokens of one sequence, before truncation and post-processing.
    void encode_sequence(TextView text, SequenceTokens& out) const;

private:
    void encode_text(const std::vector<char32_t>& chars, uint32_t begin, uint32_t end, SequenceTokens& out) const;
    void encode_normalized(const AlignedText& text, uint32_t begin, uint32_t end, SequenceTokens& out) const;
    void encode_wordpiece(const AlignedText& text, uint32_t begin, uint32_t end, SequenceTokens& out) const;
    void encode_byte_level(const AlignedText& text, uint32_t begin, uint32_t end, SequenceTokens& out) const;

    TokenizerConfig config_;
    AddedTokenMatcher raw_tokens_;         // normalized: false
    AddedTokenMatcher normalized_tokens_;  // normalized: true
    std::unique_ptr<WordPiece> wordpiece_;
    std::unique_ptr<ByteLevelBpe> bpe_;
};

}  // namespace fastenc

#include "tokenizer.h"

#include <algorithm>

#include "pretokenizer.h"
#include "unicode.h"

namespace fastenc {

namespace {
std::vector<AddedToken> select_tokens(const std::vector<AddedToken>& tokens, bool normalized) {
    std::vector<AddedToken> out;
    for (const AddedToken& t : tokens)
        if (t.normalized == normalized) out.push_back(t);
    return out;
}

// Scratch buffers reused by every call on a thread (the pipeline allocates nothing once they have grown).
struct Workspace {
    std::vector<char32_t> chars;
    std::vector<AddedTokenMatcher::Split> raw_splits;
    std::vector<AddedTokenMatcher::Split> normalized_splits;
    AlignedText normalized;
    AlignedText piece;
    std::vector<Span> words;
    std::string bytes;
    std::vector<uint32_t> char_of_byte;
    std::vector<ByteLevelBpe::Piece> pieces;
    SequenceTokens first;
    SequenceTokens second;
};
thread_local Workspace workspace;

template <typename Unit>
void widen(const Unit* units, size_t n, std::vector<char32_t>& out) {
    out.resize(n);
    for (size_t i = 0; i < n; ++i) {
        char32_t c = units[i];
        if (sizeof(Unit) > 1 && c >= 0xD800 && c <= 0xDFFF) throw InvalidCodePoint(c, i);
        out[i] = c;
    }
}

void to_code_points(const TextView& text, std::vector<char32_t>& out) {
    switch (text.width) {
        case 1: widen(static_cast<const uint8_t*>(text.data), text.length, out); break;
        case 2: widen(static_cast<const uint16_t*>(text.data), text.length, out); break;
        case 4: widen(static_cast<const uint32_t*>(text.data), text.length, out); break;
        default: unicode::decode_utf8(static_cast<const char*>(text.data), text.length, out);
    }
}
}  // namespace

Tokenizer::Tokenizer(TokenizerConfig config)
    : config_(std::move(config)),
      raw_tokens_(select_tokens(config_.added_tokens, false)),
      normalized_tokens_(select_tokens(config_.added_tokens, true)) {
    if (config_.model == TokenizerConfig::Model::kWordPiece)
        wordpiece_ = std::make_unique<WordPiece>(config_.vocab, config_.unk_id, config_.continuing_subword_prefix,
                                                 config_.max_input_chars_per_word);
    else
        bpe_ = std::make_unique<ByteLevelBpe>(config_.vocab, config_.merges);
    // The model tables now hold what they need.
    config_.vocab.clear();
    config_.vocab.shrink_to_fit();
    config_.merges.clear();
    config_.merges.shrink_to_fit();
}

void Tokenizer::encode(TextView text, const TextView* pair, const EncodeOptions& options, Encoding& out) const {
    // encode_sequence uses other workspace members, so the two sequences live in locals moved from the workspace.
    SequenceTokens first = std::move(workspace.first);
    SequenceTokens second = std::move(workspace.second);
    try {
        encode_sequence(text, first);
        if (pair) {
            try {
                encode_sequence(*pair, second);
            } catch (InvalidCodePoint& bad) {
                bad.in_pair = true;
                throw;
            }
        }
        truncate(first, pair ? &second : nullptr, config_.post_processor, options);
    } catch (...) {
        workspace.first = std::move(first);
        workspace.second = std::move(second);
        throw;
    }
    apply_template(first, pair ? &second : nullptr, config_.post_processor, options.add_special_tokens, out);
    workspace.first = std::move(first);
    workspace.second = std::move(second);
}

void Tokenizer::encode_sequence(TextView text, SequenceTokens& out) const {
    out.clear();
    std::vector<char32_t> chars;
    chars.swap(workspace.chars);
    try {
        to_code_points(text, chars);
    } catch (...) {
        chars.swap(workspace.chars);
        throw;
    }
    const uint32_t n = static_cast<uint32_t>(chars.size());
    if (raw_tokens_.empty()) {
        encode_text(chars, 0, n, out);
    } else {
        std::vector<AddedTokenMatcher::Split> splits;
        splits.swap(workspace.raw_splits);
        splits.clear();
        raw_tokens_.split(chars.data(), n, splits);
        for (const auto& s : splits) {
            if (s.id >= 0)  // offsets keep the whitespace lstrip/rstrip absorbed unless the post-processor trims it
                out.push(s.id, config_.trim_offsets ? s.match_begin : s.begin,
                         config_.trim_offsets ? s.match_end : s.end);
            else
                encode_text(chars, s.begin, s.end, out);
        }
        splits.swap(workspace.raw_splits);
    }
    chars.swap(workspace.chars);
}

void Tokenizer::encode_text(const std::vector<char32_t>& chars, uint32_t begin, uint32_t end,
                            SequenceTokens& out) const {
    AlignedText& text = workspace.normalized;
    text.clear();
    normalize_bert(config_.normalizer, chars.data(), begin, end, text);
    const uint32_t n = static_cast<uint32_t>(text.size());
    if (normalized_tokens_.empty()) {
        encode_normalized(text, 0, n, out);
        return;
    }
    auto& splits = workspace.normalized_splits;
    splits.clear();
    normalized_tokens_.split(text.chars.data(), n, splits);
    for (const auto& s : splits) {
        if (s.id >= 0)
            out.push(s.id, text.origin[config_.trim_offsets ? s.match_begin : s.begin],
                     text.origin[(config_.trim_offsets ? s.match_end : s.end) - 1] + 1);
        else
            encode_normalized(text, s.begin, s.end, out);
    }
}

void Tokenizer::encode_normalized(const AlignedText& text, uint32_t begin, uint32_t end, SequenceTokens& out) const {
    if (begin >= end) return;
    if (wordpiece_)
        encode_wordpiece(text, begin, end, out);
    else
        encode_byte_level(text, begin, end, out);
}

void Tokenizer::encode_wordpiece(const AlignedText& text, uint32_t begin, uint32_t end, SequenceTokens& out) const {
    auto& words = workspace.words;
    words.clear();
    pretokenize_bert(text.chars.data() + begin, end - begin, words);
    for (const Span& w : words) wordpiece_->encode_word(text, begin + w.begin, begin + w.end, workspace.bytes, out);
}

void Tokenizer::encode_byte_level(const AlignedText& text, uint32_t begin, uint32_t end, SequenceTokens& out) const {
    // The piece, with the optional prefix space (aligned to the piece's first character, as HF's prepend does).
    AlignedText& piece = workspace.piece;
    piece.clear();
    if (config_.add_prefix_space && text.chars[begin] != U' ') piece.push(U' ', text.origin[begin]);
    piece.chars.insert(piece.chars.end(), text.chars.begin() + begin, text.chars.begin() + end);
    piece.origin.insert(piece.origin.end(), text.origin.begin() + begin, text.origin.begin() + end);

    auto& words = workspace.words;
    words.clear();
    pretokenize_byte_level(piece.chars.data(), static_cast<uint32_t>(piece.size()), words);
    std::string& bytes = workspace.bytes;
    auto& char_of_byte = workspace.char_of_byte;
    auto& pieces = workspace.pieces;
    for (const Span& w : words) {
        bytes.clear();
        char_of_byte.clear();
        for (uint32_t i = w.begin; i < w.end; ++i) {
            unicode::append_utf8(bytes, piece.chars[i]);
            char_of_byte.resize(bytes.size(), i);
        }
        pieces.clear();
        bpe_->encode_word(bytes, pieces);
        uint32_t pos = 0;
        for (const auto& p : pieces) {
            uint32_t first = pos, last = pos + p.length - 1;
            pos += p.length;
            if (p.id < 0) continue;
            uint32_t start = piece.origin[char_of_byte[first]];
            uint32_t stop = piece.origin[char_of_byte[last]] + 1;
            if (config_.trim_offsets) {
                // HF's ByteLevel process_offsets: a token's leading/trailing spaces (its 'Ġ') are not part of its
                // span, except the single space add_prefix_space put before the first token.
                uint32_t leading = 0, trailing = 0;
                while (first + leading <= last && bytes[first + leading] == ' ') ++leading;
                while (last >= first + trailing && bytes[last - trailing] == ' ') ++trailing;
                if (leading > 0) {
                    bool is_first = out.size() == 0 || start == 0;
                    if (is_first && config_.add_prefix_space && leading == 1) leading = 0;
                    start = std::min(start + leading, stop);
                }
                if (trailing > 0 && stop >= trailing) stop = std::max(stop - trailing, start);
            }
            out.push(p.id, start, stop);
        }
    }
}

}  // namespace fastenc

// Pre-tokenizers: cut normalized text into words before the model sees them.
//   * BERT: split on whitespace (dropped) and isolate each punctuation character.
//   * Byte-level (GPT-2/RoBERTa): the regex
//       's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//     written out by hand as a scanner (alternatives tried in order at each position, as the regex engine does).
#pragma once
#include <cstdint>
#include <vector>

namespace fastenc {

struct Span {
    uint32_t begin;
    uint32_t end;
};

void pretokenize_bert(const char32_t* chars, uint32_t size, std::vector<Span>& words);
void pretokenize_byte_level(const char32_t* chars, uint32_t size, std::vector<Span>& words);

}  // namespace fastenc

// Byte-level BPE (GPT-2/RoBERTa): each pre-token is turned into bytes, each byte into its one-character token,
// then merges are applied by rank. Merging uses a heap of candidate pairs, O(n log n) per pre-token, so that very
// long pre-tokens (Thai, 'a' * 100000) stay fast; results for short pre-tokens are kept in a bounded cache.
#pragma once
#include <array>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "flat_map.h"

namespace fastenc {

// The GPT-2 byte-to-unicode map: printable bytes stand for themselves, the others are moved to U+0100 and up.
std::array<char32_t, 256> byte_to_unicode();

class ByteLevelBpe {
public:
    // `vocab` holds tokens in their byte-level spelling (e.g. "Ġthe").
    ByteLevelBpe(const std::vector<std::pair<std::string, int32_t>>& vocab,
                 const std::vector<std::pair<std::string, std::string>>& merges);

    // A piece of the output: token id and its length in bytes of the pre-token.
    struct Piece {
        int32_t id;
        uint32_t length;
    };

    // Tokenizes one pre-token given as UTF-8 bytes; appends pieces in order.
    void encode_word(const std::string& bytes, std::vector<Piece>& out) const;

private:
    void merge(const std::string& bytes, std::vector<Piece>& out) const;

    std::array<int32_t, 256> byte_token_{};  // id of each byte's one-character token (-1 if absent)
    FlatMap merges_{1024};                   // (left id << 32 | right id) -> (rank << 32 | merged id)

    // Sharded so that threads rarely wait on each other; each shard is cleared when full (bounded memory).
    static constexpr size_t kShards = 64;
    static constexpr size_t kShardCapacity = 4096;
    static constexpr size_t kMaxCachedBytes = 64;
    struct Shard {
        std::mutex mutex;
        std::unordered_map<std::string, std::vector<Piece>> words;
    };
    mutable std::array<Shard, kShards> cache_;
};

}  // namespace fastenc

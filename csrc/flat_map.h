// A small open-addressing hash map from 64-bit keys to 32-bit values: the trie edges of WordPiece and of the
// added-token matcher, and the BPE merge table all use it. std::unordered_map allocates a node per entry and
// chases pointers; this keeps everything in two flat arrays, which matters on the per-byte hot path.
#pragma once
#include <cstdint>
#include <vector>

namespace fastenc {

class FlatMap {
public:
    static constexpr uint64_t kEmpty = ~0ULL;

    explicit FlatMap(size_t expected = 16) { rehash(expected * 2); }

    void insert(uint64_t key, uint64_t value) {
        if ((size_ + 1) * 2 > keys_.size()) rehash(keys_.size() * 2);
        size_t i = slot(key);
        while (keys_[i] != kEmpty && keys_[i] != key) i = (i + 1) & mask_;
        if (keys_[i] == kEmpty) ++size_;
        keys_[i] = key;
        values_[i] = value;
    }

    // Returns a pointer to the value, or nullptr.
    const uint64_t* find(uint64_t key) const {
        size_t i = slot(key);
        while (true) {
            uint64_t k = keys_[i];
            if (k == key) return &values_[i];
            if (k == kEmpty) return nullptr;
            i = (i + 1) & mask_;
        }
    }

    size_t size() const { return size_; }

private:
    size_t slot(uint64_t key) const {
        key ^= key >> 33;
        key *= 0xff51afd7ed558ccdULL;
        key ^= key >> 29;
        return static_cast<size_t>(key) & mask_;
    }

    void rehash(size_t capacity) {
        size_t cap = 16;
        while (cap < capacity) cap <<= 1;
        std::vector<uint64_t> old_keys(cap, kEmpty), old_values(cap);
        old_keys.swap(keys_);
        old_values.swap(values_);
        mask_ = cap - 1;
        size_ = 0;
        for (size_t i = 0; i < old_keys.size(); ++i)
            if (old_keys[i] != kEmpty) insert(old_keys[i], old_values[i]);
    }

    std::vector<uint64_t> keys_;
    std::vector<uint64_t> values_;
    size_t mask_ = 0;
    size_t size_ = 0;
};

}  // namespace fastenc

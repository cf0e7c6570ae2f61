#include "bpe.h"

#include <algorithm>
#include <functional>

#include "unicode.h"

namespace fastenc {

std::array<char32_t, 256> byte_to_unicode() {
    std::array<char32_t, 256> map{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        map[b] = printable ? static_cast<char32_t>(b) : next++;
    }
    return map;
}

ByteLevelBpe::ByteLevelBpe(const std::vector<std::pair<std::string, int32_t>>& vocab,
                           const std::vector<std::pair<std::string, std::string>>& merges) {
    std::unordered_map<std::string, int32_t> ids;
    ids.reserve(vocab.size() * 2);
    for (const auto& [token, id] : vocab) ids[token] = id;
    auto map = byte_to_unicode();
    for (int b = 0; b < 256; ++b) {
        std::string s;
        unicode::append_utf8(s, map[b]);
        auto it = ids.find(s);
        byte_token_[b] = it == ids.end() ? -1 : it->second;
    }
    for (size_t rank = 0; rank < merges.size(); ++rank) {
        const auto& [left, right] = merges[rank];
        auto l = ids.find(left), r = ids.find(right), m = ids.find(left + right);
        if (l == ids.end() || r == ids.end() || m == ids.end()) continue;  // HF rejects such files; we skip
        uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(l->second)) << 32) |
                       static_cast<uint32_t>(r->second);
        if (merges_.find(key)) continue;  // the first (lowest) rank of a repeated merge wins
        merges_.insert(key, (static_cast<uint64_t>(rank) << 32) | static_cast<uint32_t>(m->second));
    }
}

void ByteLevelBpe::encode_word(const std::string& bytes, std::vector<Piece>& out) const {
    if (bytes.size() > kMaxCachedBytes) {
        merge(bytes, out);
        return;
    }
    Shard& shard = cache_[std::hash<std::string>{}(bytes) % kShards];
    {
        std::lock_guard<std::mutex> lock(shard.mutex);
        auto it = shard.words.find(bytes);
        if (it != shard.words.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    size_t first = out.size();
    merge(bytes, out);
    std::vector<Piece> pieces(out.begin() + first, out.end());
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (shard.words.size() >= kShardCapacity) shard.words.clear();
    shard.words.emplace(bytes, std::move(pieces));
}

void ByteLevelBpe::merge(const std::string& bytes, std::vector<Piece>& out) const {
    // Symbols form a doubly linked list over the bytes; a merged-away symbol gets length 0.
    struct Symbol {
        int32_t id;
        int32_t prev;
        int32_t next;
        uint32_t length;
    };
    // Candidate merge of the symbol at `pos` with its right neighbour; ordered by rank, then leftmost first.
    struct Candidate {
        uint32_t rank;
        int32_t pos;
        int32_t merged;
        bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    thread_local std::vector<Symbol> symbols;
    thread_local std::vector<Candidate> heap;
    symbols.clear();
    const int32_t n = static_cast<int32_t>(bytes.size());
    for (int32_t i = 0; i < n; ++i) {
        int32_t id = byte_token_[static_cast<unsigned char>(bytes[i])];
        symbols.push_back({id, i - 1, i + 1 < n ? i + 1 : -1, 1});
    }
    auto lookup = [this](int32_t left, int32_t right) -> const uint64_t* {
        if (left < 0 || right < 0) return nullptr;
        return merges_.find((static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
                            static_cast<uint32_t>(right));
    };
    heap.clear();
    const std::greater<Candidate> later;  // std heaps are max-heaps; this makes the top the earliest candidate
    auto push = [&](int32_t pos) {
        if (pos < 0 || symbols[pos].next < 0) return;
        if (const uint64_t* m = lookup(symbols[pos].id, symbols[symbols[pos].next].id)) {
            heap.push_back({static_cast<uint32_t>(*m >> 32), pos, static_cast<int32_t>(*m & 0xFFFFFFFF)});
            std::push_heap(heap.begin(), heap.end(), later);
        }
    };
    for (int32_t i = 0; i + 1 < n; ++i) push(i);
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), later);
        Candidate top = heap.back();
        heap.pop_back();
        Symbol& left = symbols[top.pos];
        if (left.length == 0 || left.next < 0) continue;
        // Stale entry: one side changed since it was pushed.
        const uint64_t* m = lookup(left.id, symbols[left.next].id);
        if (!m || static_cast<uint32_t>(*m >> 32) != top.rank) continue;
        Symbol& right = symbols[left.next];
        left.id = top.merged;
        left.length += right.length;
        left.next = right.next;
        right.length = 0;
        if (left.next >= 0) symbols[left.next].prev = top.pos;
        push(left.prev);
        push(top.pos);
    }
    for (int32_t i = 0; i >= 0 && i < n; i = symbols[i].next) {
        // id -1: a byte without a token (impossible with a byte-level vocabulary); the caller skips it but still
        // needs its length to keep the offsets of later pieces right.
        out.push_back({symbols[i].id, symbols[i].length});
    }
}

}  // namespace fastenc

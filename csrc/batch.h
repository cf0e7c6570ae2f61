// Batch encoding: rows encoded in parallel on the thread pool into per-task blocks, then copied (padded or packed)
// in parallel into flat buffers allocated once, which the binding hands to NumPy without copying. Nothing here
// touches Python, so the binding runs all of it without the GIL.
#pragma once
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "postprocess.h"
#include "tokenizer.h"

namespace fastenc {

enum class Padding { kNone, kLongest, kMaxLength };

struct BatchOptions {
    EncodeOptions encode;
    Padding padding = Padding::kNone;
    size_t pad_length = 0;       // kMaxLength: the target length
    size_t pad_to_multiple = 0;  // round the padded length up to a multiple of this (0: off)
    int32_t pad_id = 0;
    int32_t pad_type_id = 0;
    bool pad_left = false;
    bool want_attention_mask = true;
    bool want_offsets = false;
    bool want_special_mask = false;  // int64 (transformers' layout)
    bool want_special_mask8 = false;  // int8 (the packed layout)
    size_t max_threads = 0;  // 0: every thread of the pool
};

// A buffer of `size` elements, uninitialised until the batch fills it; released to NumPy by the binding.
template <typename T>
struct Buffer {
    std::unique_ptr<T[]> data;
    size_t size = 0;
    void allocate(size_t n) {
        data.reset(new T[n == 0 ? 1 : n]);
        size = n;
    }
};

// Row r occupies [row_start[r], row_start[r + 1]) of each flat buffer; offsets hold two values per token. Buffers
// not asked for stay empty.
struct BatchResult {
    Buffer<int64_t> ids;
    Buffer<int64_t> type_ids;
    Buffer<int64_t> attention_mask;
    Buffer<int64_t> offsets;
    Buffer<int64_t> special_mask;
    Buffer<int8_t> special_mask8;
    Buffer<int64_t> row_start;
};

// `pairs` is empty or as long as `texts`. Throws std::invalid_argument (truncation errors), the first one raised.
void encode_batch(const Tokenizer& tokenizer, const std::vector<std::string_view>& texts,
                  const std::vector<std::string_view>& pairs, const BatchOptions& options, BatchResult& out);

}  // namespace fastenc

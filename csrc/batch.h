// Batch encoding: rows encoded in parallel on the thread pool, then padded and laid out in flat int64 buffers that
// the binding hands to NumPy without copying.
#pragma once
#include <cstdint>
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
    bool want_offsets = false;
    bool want_special_mask = false;
    size_t max_threads = 0;  // 0: every thread of the pool
};

// Row r occupies [row_start[r], row_start[r + 1]) of each flat buffer; offsets hold two values per token.
struct BatchResult {
    std::vector<int64_t> ids;
    std::vector<int64_t> type_ids;
    std::vector<int64_t> attention_mask;
    std::vector<int64_t> offsets;
    std::vector<int64_t> special_mask;
    std::vector<int64_t> row_start;
};

// `pairs` is empty or as long as `texts`. Throws std::invalid_argument (truncation errors), the first one raised.
void encode_batch(const Tokenizer& tokenizer, const std::vector<std::string_view>& texts,
                  const std::vector<std::string_view>& pairs, const BatchOptions& options, BatchResult& out);

}  // namespace fastenc

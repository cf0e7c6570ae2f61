// Batch encoding: rows encoded in parallel on the thread pool into per-task blocks, then copied (padded or packed)
// in parallel into flat buffers allocated once, which the binding hands to NumPy without copying. Nothing here
// touches Python, so the binding runs all of it without the GIL.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
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
    const char* text_name = "text";  // the arguments, as error messages name them
    const char* pair_name = "text_pair";
};

// A buffer of `size` elements, released to NumPy by the binding (which frees it with std::free).
template <typename T>
struct Buffer {
    struct Free {
        void operator()(T* p) const { std::free(p); }
    };
    std::unique_ptr<T, Free> data;
    size_t size = 0;
    bool zeroed = false;  // every element already 0: the batch skips writing zeros

    // Buffers this large come from calloc, which maps fresh zero pages without writing them (glibc's mmap
    // threshold is at most 32 MiB): a padded whole-corpus batch is mostly padding, and its zeros then cost nothing.
    // Smaller buffers are left uninitialised and filled in parallel by the tasks.
    static constexpr size_t kZeroedBytes = size_t{64} << 20;

    void allocate(size_t n) {
        const size_t bytes = std::max<size_t>(n, 1) * sizeof(T);
        zeroed = bytes >= kZeroedBytes;
        data.reset(static_cast<T*>(zeroed ? std::calloc(bytes, 1) : std::malloc(bytes)));
        if (!data) throw std::bad_alloc();
        size = n;
    }
    T* get() const { return data.get(); }
    T& operator[](size_t i) const { return data.get()[i]; }
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
    int64_t width = 0;  // the length of every row, or -1 when they differ (0 for no rows)
};

// `pairs` is empty or as long as `texts`. Throws std::invalid_argument (truncation errors; a lone surrogate, named
// as "text[row] is not valid Unicode: ..."), the one of the lowest row, whatever the number of threads.
void encode_batch(const Tokenizer& tokenizer, const std::vector<TextView>& texts, const std::vector<TextView>& pairs,
                  const BatchOptions& options, BatchResult& out);

}  // namespace fastenc

#include "batch.h"

#include <algorithm>

#include "thread_pool.h"

namespace fastenc {

namespace {

size_t round_up(size_t n, size_t multiple) { return multiple == 0 ? n : (n + multiple - 1) / multiple * multiple; }

// Rows per task: several tasks per thread so that uneven rows balance, at most 64 rows so that a task's block
// stays in cache, at least one.
size_t rows_per_task(size_t rows, size_t threads) {
    size_t per = (rows + threads * 4 - 1) / (threads * 4);
    return std::clamp<size_t>(per, 1, 64);
}

// The encoded rows of one task, laid end to end (row k of the task is [end[k-1], end[k]) of `rows`).
struct Block {
    Encoding rows;
    std::vector<size_t> end;
};

void append(const Encoding& e, Encoding& to) {
    to.ids.insert(to.ids.end(), e.ids.begin(), e.ids.end());
    to.type_ids.insert(to.type_ids.end(), e.type_ids.begin(), e.type_ids.end());
    to.starts.insert(to.starts.end(), e.starts.begin(), e.starts.end());
    to.ends.insert(to.ends.end(), e.ends.begin(), e.ends.end());
    to.special.insert(to.special.end(), e.special.begin(), e.special.end());
}

// Copies row `k` of `block` into the output row that spans [begin, begin + width), padding the rest.
void write_row(const Block& block, size_t k, size_t begin, size_t width, const BatchOptions& options,
               BatchResult& out) {
    const size_t from = k == 0 ? 0 : block.end[k - 1];
    const size_t n = block.end[k] - from;
    const size_t pad = width - n;
    const size_t tokens = begin + (options.pad_left ? pad : 0);  // first token
    const size_t padding = options.pad_left ? begin : begin + n;  // first pad position
    const Encoding& e = block.rows;
    for (size_t i = 0; i < n; ++i) {
        out.ids.data[tokens + i] = e.ids[from + i];
        out.type_ids.data[tokens + i] = e.type_ids[from + i];
    }
    std::fill_n(out.ids.data.get() + padding, pad, static_cast<int64_t>(options.pad_id));
    std::fill_n(out.type_ids.data.get() + padding, pad, static_cast<int64_t>(options.pad_type_id));
    if (options.want_attention_mask) {
        std::fill_n(out.attention_mask.data.get() + tokens, n, int64_t{1});
        std::fill_n(out.attention_mask.data.get() + padding, pad, int64_t{0});
    }
    if (options.want_offsets) {
        int64_t* offsets = out.offsets.data.get();
        for (size_t i = 0; i < n; ++i) {
            offsets[2 * (tokens + i)] = e.starts[from + i];
            offsets[2 * (tokens + i) + 1] = e.ends[from + i];
        }
        std::fill_n(offsets + 2 * padding, 2 * pad, int64_t{0});
    }
    if (options.want_special_mask) {
        for (size_t i = 0; i < n; ++i) out.special_mask.data[tokens + i] = e.special[from + i];
        std::fill_n(out.special_mask.data.get() + padding, pad, int64_t{1});
    }
    if (options.want_special_mask8) {
        for (size_t i = 0; i < n; ++i) out.special_mask8.data[tokens + i] = static_cast<int8_t>(e.special[from + i]);
        std::fill_n(out.special_mask8.data.get() + padding, pad, int8_t{1});
    }
}

}  // namespace

void encode_batch(const Tokenizer& tokenizer, const std::vector<std::string_view>& texts,
                  const std::vector<std::string_view>& pairs, const BatchOptions& options, BatchResult& out) {
    ThreadPool& pool = ThreadPool::instance();
    const size_t rows = texts.size();
    const size_t threads = options.max_threads == 0 ? pool.size() : std::min(options.max_threads, pool.size());
    const size_t per_task = rows_per_task(rows, threads);
    const size_t tasks = (rows + per_task - 1) / per_task;

    // 1. Encode: each task fills its own block (no shared output, no lock).
    std::vector<Block> blocks(tasks);
    pool.run(
        tasks,
        [&](size_t task) {
            thread_local Encoding scratch;
            Block& block = blocks[task];
            const size_t first = task * per_task, last = std::min(rows, first + per_task);
            block.end.reserve(last - first);
            for (size_t r = first; r < last; ++r) {
                tokenizer.encode(texts[r], pairs.empty() ? nullptr : &pairs[r], options.encode, scratch);
                append(scratch, block.rows);
                block.end.push_back(block.rows.ids.size());
            }
        },
        options.max_threads);

    // 2. Row lengths after padding, and where each row starts (O(rows), serial).
    size_t longest = 0;
    for (const Block& b : blocks)
        for (size_t k = 0; k < b.end.size(); ++k) longest = std::max(longest, b.end[k] - (k ? b.end[k - 1] : 0));
    out.row_start.allocate(rows + 1);
    out.row_start.data[0] = 0;
    for (size_t t = 0; t < tasks; ++t) {
        const Block& b = blocks[t];
        for (size_t k = 0; k < b.end.size(); ++k) {
            size_t n = b.end[k] - (k ? b.end[k - 1] : 0), target = n;
            if (options.padding == Padding::kLongest) target = round_up(longest, options.pad_to_multiple);
            if (options.padding == Padding::kMaxLength)
                target = std::max(n, round_up(options.pad_length, options.pad_to_multiple));
            size_t r = t * per_task + k;
            out.row_start.data[r + 1] = out.row_start.data[r] + static_cast<int64_t>(target);
        }
    }

    // 3. Allocate every output once, then let each task write its own rows (disjoint ranges).
    const size_t total = static_cast<size_t>(out.row_start.data[rows]);
    out.ids.allocate(total);
    out.type_ids.allocate(total);
    if (options.want_attention_mask) out.attention_mask.allocate(total);
    if (options.want_offsets) out.offsets.allocate(total * 2);
    if (options.want_special_mask) out.special_mask.allocate(total);
    if (options.want_special_mask8) out.special_mask8.allocate(total);
    pool.run(
        tasks,
        [&](size_t task) {
            const Block& block = blocks[task];
            for (size_t k = 0; k < block.end.size(); ++k) {
                size_t r = task * per_task + k;
                size_t begin = static_cast<size_t>(out.row_start.data[r]);
                write_row(block, k, begin, static_cast<size_t>(out.row_start.data[r + 1]) - begin, options, out);
            }
            blocks[task] = Block();  // free as we go
        },
        options.max_threads);
}

}  // namespace fastenc

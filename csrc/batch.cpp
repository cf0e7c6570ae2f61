#include "batch.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "thread_pool.h"

namespace fastenc {

namespace {

// Below these sizes waking the pool costs more than the work it would share (a few microseconds per wake-up against
// ~60 ns per input character and ~1 ns per output element).
constexpr size_t kMinParallelUnits = 1024;     // code units of input, all rows
constexpr size_t kMinParallelOutput = 1 << 15;  // tokens of output, padding included

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

// Sets [begin, begin + n) of `buffer` to `value`, unless the buffer is all zeros already and `value` is 0.
template <typename T>
void fill(const Buffer<T>& buffer, size_t begin, size_t n, T value) {
    if (!(buffer.zeroed && value == 0)) std::fill_n(buffer.get() + begin, n, value);
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
        out.ids[tokens + i] = e.ids[from + i];
        out.type_ids[tokens + i] = e.type_ids[from + i];
    }
    fill(out.ids, padding, pad, static_cast<int64_t>(options.pad_id));
    fill(out.type_ids, padding, pad, static_cast<int64_t>(options.pad_type_id));
    if (options.want_attention_mask) {
        fill(out.attention_mask, tokens, n, int64_t{1});
        fill(out.attention_mask, padding, pad, int64_t{0});
    }
    if (options.want_offsets) {
        for (size_t i = 0; i < n; ++i) {
            out.offsets[2 * (tokens + i)] = e.starts[from + i];
            out.offsets[2 * (tokens + i) + 1] = e.ends[from + i];
        }
        fill(out.offsets, 2 * padding, 2 * pad, int64_t{0});
    }
    if (options.want_special_mask) {
        for (size_t i = 0; i < n; ++i) out.special_mask[tokens + i] = e.special[from + i];
        fill(out.special_mask, padding, pad, int64_t{1});
    }
    if (options.want_special_mask8) {
        for (size_t i = 0; i < n; ++i) out.special_mask8[tokens + i] = static_cast<int8_t>(e.special[from + i]);
        fill(out.special_mask8, padding, pad, int8_t{1});
    }
}

// "text[3] is not valid Unicode: lone surrogate U+D800 at index 1", as the binding did when it read the strings.
std::string describe(const InvalidCodePoint& bad, size_t row, const BatchOptions& options) {
    char buf[200];
    std::snprintf(buf, sizeof(buf), "%s[%zu] is not valid Unicode: lone surrogate U+%04X at index %zu",
                  bad.in_pair ? options.pair_name : options.text_name, row, static_cast<unsigned>(bad.code_point),
                  bad.index);
    return buf;
}

}  // namespace

void encode_batch(const Tokenizer& tokenizer, const std::vector<TextView>& texts, const std::vector<TextView>& pairs,
                  const BatchOptions& options, BatchResult& out) {
    ThreadPool& pool = ThreadPool::instance();
    const size_t rows = texts.size();
    size_t units = 0;  // input size, to keep tiny batches on the calling thread
    for (const TextView& t : texts) units += t.length;
    for (const TextView& t : pairs) units += t.length;
    const size_t threads = units < kMinParallelUnits ? 1
                           : options.max_threads == 0 ? pool.size()
                                                      : std::min(options.max_threads, pool.size());
    const size_t per_task = rows_per_task(rows, threads);
    const size_t tasks = (rows + per_task - 1) / per_task;

    // 1. Encode: each task fills its own block (no shared output, no lock). A task stops at its first error; the
    // error of the lowest task is raised, so the same input gives the same error on any number of threads.
    std::vector<Block> blocks(tasks);
    std::vector<std::exception_ptr> errors(tasks);
    pool.run(
        tasks,
        [&](size_t task) {
            thread_local Encoding scratch;
            Block& block = blocks[task];
            const size_t first = task * per_task, last = std::min(rows, first + per_task);
            block.end.reserve(last - first);
            for (size_t r = first; r < last; ++r) {
                try {
                    tokenizer.encode(texts[r], pairs.empty() ? nullptr : &pairs[r], options.encode, scratch);
                } catch (const InvalidCodePoint& bad) {
                    errors[task] = std::make_exception_ptr(std::invalid_argument(describe(bad, r, options)));
                    return;
                } catch (...) {
                    errors[task] = std::current_exception();
                    return;
                }
                append(scratch, block.rows);
                block.end.push_back(block.rows.ids.size());
            }
        },
        threads);
    for (const std::exception_ptr& error : errors)
        if (error) std::rethrow_exception(error);

    // 2. Row lengths after padding, and where each row starts (O(rows), serial).
    size_t longest = 0;
    for (const Block& b : blocks)
        for (size_t k = 0; k < b.end.size(); ++k) longest = std::max(longest, b.end[k] - (k ? b.end[k - 1] : 0));
    out.row_start.allocate(rows + 1);
    out.row_start[0] = 0;
    for (size_t t = 0; t < tasks; ++t) {
        const Block& b = blocks[t];
        for (size_t k = 0; k < b.end.size(); ++k) {
            size_t n = b.end[k] - (k ? b.end[k - 1] : 0), target = n;
            if (options.padding == Padding::kLongest) target = round_up(longest, options.pad_to_multiple);
            if (options.padding == Padding::kMaxLength)
                target = std::max(n, round_up(options.pad_length, options.pad_to_multiple));
            size_t r = t * per_task + k;
            out.row_start[r + 1] = out.row_start[r] + static_cast<int64_t>(target);
            if (r == 0) out.width = static_cast<int64_t>(target);
            if (out.width != static_cast<int64_t>(target)) out.width = -1;
        }
    }

    // 3. Allocate every output once, then let each task write its own rows (disjoint ranges).
    const size_t total = static_cast<size_t>(out.row_start[rows]);
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
                size_t begin = static_cast<size_t>(out.row_start[r]);
                write_row(block, k, begin, static_cast<size_t>(out.row_start[r + 1]) - begin, options, out);
            }
            blocks[task] = Block();  // free as we go
        },
        total < kMinParallelOutput ? 1 : threads);
}

}  // namespace fastenc

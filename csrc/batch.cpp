#include "batch.h"

#include <exception>
#include <mutex>

#include "thread_pool.h"

namespace fastenc {

namespace {
constexpr size_t kRowsPerTask = 32;  // small enough to balance threads, large enough to amortise scheduling

size_t round_up(size_t n, size_t multiple) { return multiple == 0 ? n : (n + multiple - 1) / multiple * multiple; }
}  // namespace

void encode_batch(const Tokenizer& tokenizer, const std::vector<std::string_view>& texts,
                  const std::vector<std::string_view>& pairs, const BatchOptions& options, BatchResult& out) {
    const size_t rows = texts.size();
    std::vector<Encoding> encodings(rows);
    std::exception_ptr error;
    std::mutex error_mutex;
    const size_t tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
    ThreadPool::instance().run(
        tasks,
        [&](size_t task) {
            size_t end = std::min(rows, (task + 1) * kRowsPerTask);
            for (size_t r = task * kRowsPerTask; r < end; ++r) {
                try {
                    tokenizer.encode(texts[r], pairs.empty() ? nullptr : &pairs[r], options.encode, encodings[r]);
                } catch (...) {
                    std::lock_guard<std::mutex> lock(error_mutex);
                    if (!error) error = std::current_exception();
                    return;
                }
            }
        },
        options.max_threads);
    if (error) std::rethrow_exception(error);

    // Padded length of each row.
    size_t longest = 0;
    for (const Encoding& e : encodings) longest = std::max(longest, e.ids.size());
    std::vector<size_t> lengths(rows);
    out.row_start.assign(rows + 1, 0);
    for (size_t r = 0; r < rows; ++r) {
        size_t n = encodings[r].ids.size();
        size_t target = n;
        if (options.padding == Padding::kLongest) target = round_up(longest, options.pad_to_multiple);
        if (options.padding == Padding::kMaxLength)
            target = std::max(n, round_up(options.pad_length, options.pad_to_multiple));
        lengths[r] = target;
        out.row_start[r + 1] = out.row_start[r] + static_cast<int64_t>(target);
    }
    const size_t total = static_cast<size_t>(out.row_start[rows]);
    out.ids.assign(total, options.pad_id);
    out.type_ids.assign(total, options.pad_type_id);
    out.attention_mask.assign(total, 0);
    if (options.want_offsets) out.offsets.assign(total * 2, 0);
    if (options.want_special_mask) out.special_mask.assign(total, 1);
    for (size_t r = 0; r < rows; ++r) {
        const Encoding& e = encodings[r];
        size_t n = e.ids.size();
        size_t base = static_cast<size_t>(out.row_start[r]) + (options.pad_left ? lengths[r] - n : 0);
        for (size_t i = 0; i < n; ++i) {
            out.ids[base + i] = e.ids[i];
            out.type_ids[base + i] = e.type_ids[i];
            out.attention_mask[base + i] = 1;
        }
        if (options.want_offsets) {
            for (size_t i = 0; i < n; ++i) {
                out.offsets[2 * (base + i)] = e.starts[i];
                out.offsets[2 * (base + i) + 1] = e.ends[i];
            }
        }
        if (options.want_special_mask)
            for (size_t i = 0; i < n; ++i) out.special_mask[base + i] = e.special[i];
    }
}

}  // namespace fastenc

// pybind11 bindings for fastenc._C: the only file of csrc/ that knows about Python. It converts the configuration
// once, takes views of the strings (their code units in place, no copies), releases the GIL for all the
// work (encoding, padding or packing), and returns NumPy arrays whose buffers are owned by capsules.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "attention_cpu.h"
#include "batch.h"
#include "thread_pool.h"
#include "tokenizer.h"
#include "unicode.h"

namespace py = pybind11;
using namespace fastenc;

namespace {

using AddedTokenTuple = std::tuple<std::string, int32_t, bool, bool, bool, bool, bool>;
using TemplateTuple = std::tuple<int32_t, std::vector<int32_t>, int32_t>;

std::vector<TemplatePiece> to_template(const std::vector<TemplateTuple>& pieces) {
    std::vector<TemplatePiece> out;
    for (const auto& [sequence, ids, type_id] : pieces) out.push_back({sequence, ids, type_id});
    return out;
}

Tokenizer* make_tokenizer(const std::string& model, std::vector<std::pair<std::string, int32_t>> vocab,
                          std::vector<std::pair<std::string, std::string>> merges, int32_t unk_id,
                          const std::string& continuing_subword_prefix, uint32_t max_input_chars_per_word,
                          bool normalizer, bool clean_text, bool handle_chinese_chars, bool strip_accents,
                          bool lowercase, bool add_prefix_space, bool trim_offsets,
                          const std::vector<AddedTokenTuple>& added_tokens,
                          const std::vector<TemplateTuple>& single, const std::vector<TemplateTuple>& pair) {
    TokenizerConfig config;
    if (model == "wordpiece")
        config.model = TokenizerConfig::Model::kWordPiece;
    else if (model == "byte_level_bpe")
        config.model = TokenizerConfig::Model::kByteLevelBpe;
    else
        throw std::invalid_argument("unknown model kind " + model);
    config.vocab = std::move(vocab);
    config.merges = std::move(merges);
    config.unk_id = unk_id;
    config.continuing_subword_prefix = continuing_subword_prefix;
    config.max_input_chars_per_word = max_input_chars_per_word;
    config.normalizer = {normalizer, clean_text, handle_chinese_chars, strip_accents, lowercase};
    config.add_prefix_space = add_prefix_space;
    config.trim_offsets = trim_offsets;
    for (const auto& [content, id, special, lstrip, rstrip, single_word, normalized] : added_tokens) {
        AddedToken t;
        t.content = unicode::utf8_to_u32(content);
        t.id = id;
        t.special = special;
        t.lstrip = lstrip;
        t.rstrip = rstrip;
        t.single_word = single_word;
        t.normalized = normalized;
        config.added_tokens.push_back(std::move(t));
    }
    config.post_processor.single = to_template(single);
    config.post_processor.pair = to_template(pair);
    py::gil_scoped_release release;  // building the tries for a large vocabulary takes a while
    return new Tokenizer(std::move(config));
}

// The strings of a sequence, read in place: a view of each str's code units (1, 2 or 4 bytes wide), which the
// workers widen to code points themselves, so no serial UTF-8 encoding runs under the GIL. `keep` (a tuple of the
// same str objects) keeps them alive and unchanged while the GIL is released, even if the caller's list changes.
std::vector<TextView> text_views(const py::handle& items, const char* name, py::tuple& keep) {
    keep = py::reinterpret_steal<py::tuple>(PySequence_Tuple(items.ptr()));
    if (!keep) throw py::error_already_set();
    const size_t n = keep.size();
    std::vector<TextView> views;
    views.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        PyObject* obj = PyTuple_GET_ITEM(keep.ptr(), static_cast<Py_ssize_t>(i));
        if (!PyUnicode_Check(obj))
            throw py::type_error(std::string(name) + "[" + std::to_string(i) + "] must be str, not " +
                                 Py_TYPE(obj)->tp_name);
#if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(obj) < 0) throw py::error_already_set();  // legacy strings only (gone in 3.12)
#endif
        views.emplace_back(PyUnicode_DATA(obj), static_cast<size_t>(PyUnicode_GET_LENGTH(obj)),
                           static_cast<int>(PyUnicode_KIND(obj)));
    }
    return views;
}

// Hands a buffer to NumPy without copying: the capsule owns it and frees it with the array.
template <typename T>
py::array_t<T> to_numpy(Buffer<T>&& buffer, std::vector<py::ssize_t> shape) {
    T* data = buffer.data.release();
    py::capsule owner(data, [](void* p) { std::free(p); });
    return py::array_t<T>(shape, data, owner);
}

// Encodes under the options with the GIL released, after taking views of the strings.
BatchResult run_batch(const Tokenizer& self, const py::list& texts, const py::object& pairs,
                      BatchOptions& options) {
    py::tuple keep_texts, keep_pairs;
    std::vector<TextView> first = text_views(texts, options.text_name, keep_texts);
    std::vector<TextView> second;
    if (!pairs.is_none()) {
        second = text_views(pairs, options.pair_name, keep_pairs);
        if (second.size() != first.size())
            throw py::value_error(std::string(options.text_name) + " and " + options.pair_name +
                                  " must have the same length");
    }
    BatchResult result;
    py::gil_scoped_release release;
    encode_batch(self, first, second, options, result);
    return result;
}

py::dict encode_batch_py(const Tokenizer& self, const py::list& texts, const py::object& pairs,
                         bool add_special_tokens, int truncation, size_t max_length, int padding, size_t pad_length,
                         size_t pad_to_multiple, int32_t pad_id, int32_t pad_type_id, bool pad_left,
                         bool return_offsets, bool return_special_tokens_mask, size_t max_threads) {
    BatchOptions options;
    options.encode.add_special_tokens = add_special_tokens;
    options.encode.truncation = static_cast<Truncation>(truncation);
    options.encode.max_length = max_length;
    options.padding = static_cast<Padding>(padding);
    options.pad_length = pad_length;
    options.pad_to_multiple = pad_to_multiple;
    options.pad_id = pad_id;
    options.pad_type_id = pad_type_id;
    options.pad_left = pad_left;
    options.want_offsets = return_offsets;
    options.want_special_mask = return_special_tokens_mask;
    options.max_threads = max_threads;
    BatchResult result = run_batch(self, texts, pairs, options);
    const auto total = static_cast<py::ssize_t>(result.ids.size);
    const auto rows = static_cast<py::ssize_t>(result.row_start.size);
    py::dict out;
    out["input_ids"] = to_numpy(std::move(result.ids), {total});
    out["token_type_ids"] = to_numpy(std::move(result.type_ids), {total});
    out["attention_mask"] = to_numpy(std::move(result.attention_mask), {total});
    if (return_offsets) out["offset_mapping"] = to_numpy(std::move(result.offsets), {total, 2});
    if (return_special_tokens_mask) out["special_tokens_mask"] = to_numpy(std::move(result.special_mask), {total});
    out["row_start"] = to_numpy(std::move(result.row_start), {rows});
    out["width"] = result.width;
    return out;
}

py::dict encode_packed_py(const Tokenizer& self, const py::list& texts, const py::object& pairs, int truncation,
                          size_t max_length, bool return_offsets, bool return_special_tokens_mask,
                          size_t max_threads) {
    BatchOptions options;
    options.encode.truncation = static_cast<Truncation>(truncation);
    options.encode.max_length = max_length;
    options.want_attention_mask = false;
    options.want_offsets = return_offsets;
    options.want_special_mask8 = return_special_tokens_mask;
    options.max_threads = max_threads;
    options.text_name = "texts";
    options.pair_name = "text_pairs";
    BatchResult result = run_batch(self, texts, pairs, options);
    const auto total = static_cast<py::ssize_t>(result.ids.size);
    const auto rows = static_cast<py::ssize_t>(result.row_start.size);
    py::dict out;
    out["input_ids"] = to_numpy(std::move(result.ids), {total});
    out["token_type_ids"] = to_numpy(std::move(result.type_ids), {total});
    out["cu_seqlens"] = to_numpy(std::move(result.row_start), {rows});
    if (return_offsets) out["offset_mapping"] = to_numpy(std::move(result.offsets), {total, 2});
    if (return_special_tokens_mask)
        out["special_tokens_mask"] = to_numpy(std::move(result.special_mask8), {total});
    return out;
}

// Tensors arrive as addresses (torch's data_ptr()); fastenc/ops/cpu_attention.py checks dtypes, shapes and strides.
void varlen_attention_py(uintptr_t q, uintptr_t k, uintptr_t v, uintptr_t out, uintptr_t cu_seqlens, int64_t batch,
                         int64_t heads, int64_t head_dim, int64_t q_stride, int64_t k_stride,
                         int64_t v_stride, double scale, int dtype,
                         size_t max_threads) {
    if (head_dim % 16 != 0) throw std::invalid_argument("varlen_attention: head_dim must be a multiple of 16");
    if (dtype != 0 && dtype != 1) throw std::invalid_argument("varlen_attention: dtype must be 0 (fp32) or 1 (bf16)");
    VarlenAttentionArgs args{reinterpret_cast<const void*>(q), reinterpret_cast<const void*>(k),
                             reinterpret_cast<const void*>(v), reinterpret_cast<void*>(out),
                             reinterpret_cast<const int32_t*>(cu_seqlens), batch, heads, head_dim, q_stride,
                             k_stride, v_stride,
                             static_cast<float>(scale), static_cast<AttnDtype>(dtype)};
    py::gil_scoped_release release;
    varlen_attention(args, max_threads);
}

}  // namespace

PYBIND11_MODULE(_C, m) {
    m.doc() = "fastenc C++ core (tokenizers, CPU attention)";
    m.attr("__version__") = "0.1.0";
    m.def("num_threads", [] { return ThreadPool::instance().size(); },
          "Threads used for batches: all cores, or FASTENC_NUM_THREADS when set (read once, at first use).");

    py::class_<Tokenizer>(m, "Tokenizer")
        .def(py::init(&make_tokenizer), py::arg("model"), py::arg("vocab"), py::arg("merges"), py::arg("unk_id"),
             py::arg("continuing_subword_prefix"), py::arg("max_input_chars_per_word"), py::arg("normalizer"),
             py::arg("clean_text"), py::arg("handle_chinese_chars"), py::arg("strip_accents"), py::arg("lowercase"),
             py::arg("add_prefix_space"), py::arg("trim_offsets"), py::arg("added_tokens"), py::arg("single"),
             py::arg("pair"))
        .def("encode_batch", &encode_batch_py, py::arg("texts"), py::arg("pairs"), py::arg("add_special_tokens"),
             py::arg("truncation"), py::arg("max_length"), py::arg("padding"), py::arg("pad_length"),
             py::arg("pad_to_multiple_of"), py::arg("pad_id"), py::arg("pad_type_id"), py::arg("pad_left"),
             py::arg("return_offsets"), py::arg("return_special_tokens_mask"), py::arg("max_threads"),
             "Encodes a batch; returns flat int64 arrays, `row_start` (row r is [row_start[r], row_start[r+1])) and "
             "`width` (every row's length, or -1 when they differ).")
        .def("encode_packed", &encode_packed_py, py::arg("texts"), py::arg("pairs"), py::arg("truncation"),
             py::arg("max_length"), py::arg("return_offsets"), py::arg("return_special_tokens_mask"),
             py::arg("max_threads"),
             "Encodes a batch with special tokens, unpadded: flat arrays and `cu_seqlens` (row r is "
             "[cu_seqlens[r], cu_seqlens[r+1])); the special-tokens mask is int8.");
    m.def("varlen_attention", &varlen_attention_py, py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"),
          py::arg("cu_seqlens"), py::arg("batch"), py::arg("heads"), py::arg("head_dim"), py::arg("q_stride"),
          py::arg("k_stride"), py::arg("v_stride"),
          py::arg("scale"), py::arg("dtype"), py::arg("max_threads"),
          "softmax(q k^T * scale) v over packed sequences, float32 math; tensors as data pointers (see "
          "fastenc/ops/cpu_attention.py, which checks them).");
    m.def("varlen_attention_isa", &varlen_attention_isa,
          "The code path of varlen_attention here: avx512, avx2 or default (capped by ATEN_CPU_CAPABILITY).");
}

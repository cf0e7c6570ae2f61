// pybind11 bindings for fastenc._C. The tokenizer core lives in the other files of csrc/ and holds no Python types.
#include <pybind11/pybind11.h>

namespace py = pybind11;

PYBIND11_MODULE(_C, m) {
    m.doc() = "fastenc C++ core (tokenizers)";
    m.attr("__version__") = "0.1.0";
}

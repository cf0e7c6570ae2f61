"""Build script: the Python packages plus the C++ tokenizer extension `fastenc._C`.

Metadata lives in pyproject.toml; this file exists because the extension needs pybind11 at build time.
"""
import sys
from glob import glob

from pybind11.setup_helpers import ParallelCompile, Pybind11Extension, build_ext
from setuptools import find_packages, setup

# Compile the C++ files in parallel (all cores; FASTENC_BUILD_JOBS=N caps them): the GPU check's set-up builds the
# extension inside its time budget.
ParallelCompile("FASTENC_BUILD_JOBS").install()

# OpenMP only for the CPU attention kernel, so it runs on the same threads as PyTorch's products (torch's Linux wheels
# load a libgomp.so.1, which the extension then shares; csrc/attention_cpu.cpp). Elsewhere (macOS clang has no
# -fopenmp) the kernel runs on the extension's own thread pool.
OPENMP = ["-fopenmp"] if sys.platform.startswith("linux") else []

extension = Pybind11Extension(
    "fastenc._C",
    sources=sorted(glob("csrc/*.cpp")),
    include_dirs=["csrc"],
    cxx_std=17,
    extra_compile_args=["-O3", *OPENMP],
    extra_link_args=["-pthread", *OPENMP],
)

setup(
    packages=find_packages(include=["fastenc", "fastenc.*"]),
    ext_modules=[extension],
    cmdclass={"build_ext": build_ext},
)

# Two commands do all set-up on a fresh clone:  `make demo` (the main job) and `make test` (the test suite).
# Both create .venv, install the pinned torch CPU build and fastenc (compiling its C++ tokenizer), then run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test bench bench-peers fuzz clean gpu-check gpu-data

setup: $(VENV)/.ready

$(VENV)/.ready: pyproject.toml setup.py constraints.txt $(wildcard csrc/*.cpp csrc/*.h)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: setup
	$(PY) benchmarks/demo.py

# The parity tests run twice: under the kernels PyTorch/oneDNN/MKL pick for this CPU, then forced to AVX2, the other
# dispatch most machines take (fp32 rounding differs by ISA; the tolerance rule must hold under both).
AVX2 := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2

test: setup
	$(PY) -m pytest -m "not slow" -q
	$(AVX2) $(PY) -m pytest -m "parity and not slow" -q

# fastenc beside ONNX Runtime, OpenVINO, CTranslate2 and transformers on the CPU (issue 12). The peers are the `bench`
# extra, installed here only (never by `make test`/CI). ARGS passes options, e.g. ARGS=--quick or ARGS="--models minilm".
bench-peers: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/bench_cpu_peers.py $(ARGS)

# The GPU check (issue 13): `make gpu-check OUT=dir` on a machine whose Python has torch, triton and transformers
# (the GPU image's python3; this checkout's .venv where there is one). DRY=1: the CPU dry run (plumbing only).
GPU_PYTHON ?= $(if $(wildcard $(PY)),$(abspath $(PY)),python3)
gpu-check:
	@test -n "$(OUT)" || { echo "usage: make gpu-check OUT=dir [DRY=1]" >&2; exit 2; }
	GPU_CHECK_COMMAND="make gpu-check OUT=$(OUT)$(if $(DRY), DRY=1)" PYTHON=$(GPU_PYTHON) \
		benchmarks/gpu_check.sh $(OUT) $(if $(DRY),--dry-run)

# What the GPU machine cannot reach (the corpus, the real MiniLM, transformers' outputs for the families its
# transformers lacks) copied into .gpu-data/ to carry with a run.
gpu-data: setup
	$(PY) benchmarks/gpu_data.py

# A million random inputs on every core against HF tokenizers (scripts/fuzz_tokenizer.py; e.g. FUZZ_ARGS="--count 20000").
# The committed record: make fuzz FUZZ_ARGS="--record benchmarks/results/fuzz-tokenizer-DATE.txt"
fuzz: setup
	$(PY) scripts/fuzz_tokenizer.py $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info fastenc/*.so

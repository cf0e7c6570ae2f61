# Two commands do all set-up on a fresh clone:  `make demo` (the main job) and `make test` (the test suite).
# Both create .venv, install the pinned torch CPU build and fastenc (compiling its C++ tokenizer), then run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test bench clean

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

clean:
	rm -rf $(VENV) build *.egg-info fastenc/*.so

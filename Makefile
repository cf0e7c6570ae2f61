# Two commands do all set-up on a fresh clone:  `make demo` (the main job) and `make test` (the test suite).
# Both create .venv, install the pinned torch CPU build and fastenc (compiling its C++ tokenizer), then run.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test bench fuzz clean

setup: $(VENV)/.ready

$(VENV)/.ready: pyproject.toml setup.py constraints.txt $(wildcard csrc/*.cpp csrc/*.h)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: setup
	$(PY) benchmarks/demo.py

test: setup
	$(PY) -m pytest -m "not slow" -q

# A million random inputs on every core against HF tokenizers (scripts/fuzz_tokenizer.py; e.g. FUZZ_ARGS="--count 20000").
# The committed record: make fuzz FUZZ_ARGS="--record benchmarks/results/fuzz-tokenizer-DATE.txt"
fuzz: setup
	$(PY) scripts/fuzz_tokenizer.py $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info fastenc/*.so

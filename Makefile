# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned to the CPU build this machine carries; an unpinned torch pulls a multi-GB CUDA build
TORCH := torch==2.13.0

.PHONY: demo test lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

# the demo serves a model and converts it to ONNX: the base install plus those two extras
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[serve,onnx]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(BIN)/loopwright demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

test: $(VENV)/.installed-dev lint typecheck
	# two processes, a test file each at a time (one Ray/Spark start per file, as alone)
	RAY_AUTH_MODE=disabled $(BIN)/pytest -q -n 2 --dist loadfile

clean:
	rm -rf $(VENV) .loopwright build dist src/*.egg-info

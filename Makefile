# The two commands of the quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch is pinned to 2.13.0, the release the suite is tested with. Which build pip installs depends on where
# it looks: on PyPI, torch 2.13.0 for Linux x86_64 is the CUDA 13 build (with ~20 nvidia-*/cuda-* wheels,
# several GB), although the tests use the CPU only. PyTorch's own CPU index serves 2.13.0+cpu; name it:
#   make test TORCH_INDEX=https://download.pytorch.org/whl/cpu
# A pip configured with a mirror or wheel folder that carries 2.13.0+cpu (as our CI machines are) takes that.
TORCH := torch==2.13.0
TORCH_INDEX ?=
# PySpark (up to 4.3) supports pandas < 3 only, and warns on every conversion otherwise; the `spark` extra pins
# pandas < 3, so the Spark tests run in their own venv on that pandas, the rest of the suite on pandas 3
SPARK_VENV := .venv-spark
SPARK_TESTS := tests/integrations/test_spark.py src/loopwright/integrations/spark.py

.PHONY: demo test test-spark lint typecheck bench clean
# two jobs: the Spark venv's install and tests run beside lint and types, before the suite (which uses
# both cores itself); this keeps `make test` on a fresh 2-core machine under 25 minutes
MAKEFLAGS += --jobs=2

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

# the demo serves a model, converts it to ONNX and points at the web UI (loopwright server): those extras
$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[serve,onnx,server]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) $(TORCH)
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed-base

demo: $(VENV)/.installed-base
	$(BIN)/loopwright demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# after the main venv: both editable installs write src/loopwright.egg-info, and must not race on it
$(SPARK_VENV)/.installed: pyproject.toml | $(VENV)/.installed-dev
	$(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/pip install --quiet --upgrade pip wheel
	$(SPARK_VENV)/bin/pip install --quiet -e ".[spark]" "pytest>=8" "pytest-timeout>=2.2"
	touch $@

test: $(VENV)/.installed-dev lint typecheck test-spark
	# two processes, a test file each at a time (one Ray start per file, as alone)
	RAY_AUTH_MODE=disabled $(BIN)/pytest -q -n 2 --dist loadfile $(addprefix --ignore=,$(SPARK_TESTS))

test-spark: $(SPARK_VENV)/.installed
	$(SPARK_VENV)/bin/pytest -q -p no:cacheprovider $(SPARK_TESTS)

clean:
	rm -rf $(VENV) $(SPARK_VENV) .loopwright build dist src/*.egg-info

# Two commands do all set-up on a fresh machine:
#   make run    - builds .venv (Python 3.10, uv) and runs the default pipeline
#   make test   - builds .venv and runs the test suite (make test-fast: without the end-to-end pipelines)
SHELL := /bin/bash
# The first Python 3.10 that really runs (a pyenv shim may exist without it).
PY310 ?= $(shell for p in $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10.*/bin/python3.10 2>/dev/null) \
  $$(command -v python3.10) /usr/bin/python3.10; do "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' \
  >/dev/null 2>&1 && { echo "$$p"; break; }; done)
VENV := .venv
export TMPDIR := $(CURDIR)/.tmp
export PYTHONUNBUFFERED := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: run test test-fast test-jax env lint clean-outputs

env: $(VENV)/.installed

$(VENV)/.installed: setup.py constraints.txt
	@mkdir -p $(TMPDIR)
	@if [ -z "$(PY310)" ]; then \
	  echo "error: Python 3.10 is required (TFX 1.16 supports no newer Python)."; \
	  echo "  install it, e.g. 'pyenv install 3.10.13' or 'apt-get install python3.10',"; \
	  echo "  or point make at one: make PY310=/path/to/python3.10 test"; exit 1; fi
	@command -v uv >/dev/null 2>&1 || [ -x .tools/bin/uv ] || \
	  { "$(PY310)" -m venv .tools && .tools/bin/pip install -q uv; }
	@UV=$$(command -v uv || echo .tools/bin/uv); \
	  $$UV venv -q --allow-existing -p "$(PY310)" $(VENV) && \
	  $$UV pip install -q --compile-bytecode -p $(VENV)/bin/python -c constraints.txt -e '.[dev]' && \
	  $(VENV)/bin/python -m compileall -q -j 0 components datasets models orchestration pipelines serving zoo >/dev/null
	@touch $@

run: env
	$(VENV)/bin/zoo run digits

test: env
	$(VENV)/bin/python -m pytest -q

# The edit loop: everything but the end-to-end pipeline runs (a few minutes).
test-fast: env
	$(VENV)/bin/python -m pytest -q -m "not pipeline"

# Every family's build and training step under KERAS_BACKEND=jax, in its own venv without TensorFlow
# (.venv-jax, keras + jax from PyPI): what a GPU machine with Keras and JAX but no TensorFlow runs.
test-jax:
	tests/jax/run.sh

lint: env
	$(VENV)/bin/ruff check .

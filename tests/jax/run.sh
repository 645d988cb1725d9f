#!/usr/bin/env bash
# The JAX test target (make test-jax): builds .venv-jax (Keras on JAX, no TensorFlow; idempotent,
# byte-compiled) from tests/jax/requirements.txt and runs tests/jax under KERAS_BACKEND=jax.
#   tests/jax/run.sh [pytest arguments]     e.g. tests/jax/run.sh -k gan
# PYTHON picks the interpreter (default: pyenv's 3.11, else python3.11), VENV the environment folder;
# JAX_CUDA=12 adds jax[cuda12] at the pinned jax version (a GPU machine; resolved, not run, here).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${VENV:-.venv-jax}
REQUIREMENTS=tests/jax/requirements.txt
export TMPDIR=${TMPDIR:-$PWD/.tmp}
mkdir -p "$TMPDIR"

if [ -z "${PYTHON:-}" ]; then
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.11.*/bin/python3.11 "$(command -v python3.11 || true)"; do
    if [ -x "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
      PYTHON=$candidate
      break
    fi
  done
fi
if [ -z "${PYTHON:-}" ]; then
  echo "error: Python 3.11 is required for the JAX target (e.g. 'pyenv install 3.11'); or set PYTHON=/path/to/python" >&2
  exit 1
fi
UV=$(command -v uv || echo .tools/bin/uv)
if [ ! -x "$UV" ] && ! command -v "$UV" >/dev/null; then
  echo "error: uv is needed to build $VENV (make env installs it in .tools/)" >&2
  exit 1
fi

EXTRA=()
if [ -n "${JAX_CUDA:-}" ]; then
  EXTRA=("jax[cuda${JAX_CUDA}]==$(sed -n 's/^jax==//p' "$REQUIREMENTS")")
fi
# Rebuilt only when the requirements change (the stamp holds a copy of what was installed).
WANTED=$(cat "$REQUIREMENTS"; echo "${EXTRA[@]:-}")
if [ "$WANTED" != "$(cat "$VENV/.installed" 2>/dev/null)" ]; then
  "$UV" venv -q --allow-existing -p "$PYTHON" "$VENV"
  "$UV" pip install -q --compile-bytecode -p "$VENV/bin/python" -r "$REQUIREMENTS" ${EXTRA[@]+"${EXTRA[@]}"}
  if "$VENV/bin/python" -c 'import tensorflow' 2>/dev/null; then
    echo "error: tensorflow is importable in $VENV; the JAX target must run without it" >&2
    exit 1
  fi
  "$VENV/bin/python" -m compileall -q -j 0 models >/dev/null
  echo "$WANTED" > "$VENV/.installed"
fi

# --confcutdir: tests/conftest.py (the TensorFlow suite's fixtures) imports TensorFlow.
KERAS_BACKEND=jax exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider --confcutdir=tests/jax tests/jax "$@"

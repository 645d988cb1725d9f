"""The JAX target (``tests/jax/run.sh``; ``make test-jax``): every family under ``KERAS_BACKEND=jax``
in an environment without TensorFlow (``tests/jax/requirements.txt``).

Under any other backend (the project's TensorFlow suite) this folder's tests are not collected,
so that suite passes over it at no cost. Under JAX, TensorFlow must not be importable: the point
of the target is that the builders and training steps need none.
"""

from __future__ import annotations

import importlib.util
import pathlib

import keras

JAX = keras.backend.backend() == "jax"
HERE = pathlib.Path(__file__).parent

if JAX:
    assert importlib.util.find_spec("tensorflow") is None, (
        "the JAX target runs without TensorFlow, but tensorflow is importable here: build the environment "
        "with tests/jax/run.sh (tests/jax/requirements.txt)")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "jax: runs under KERAS_BACKEND=jax without TensorFlow (tests/jax/run.sh)")


def pytest_ignore_collect(collection_path: pathlib.Path, config) -> bool | None:
    """Leaves this folder's test modules out unless the backend is JAX."""
    if not JAX and collection_path.parent == HERE and collection_path.name.startswith("test_"):
        return True
    return None

"""TF Serving's own example clients, unmodified, against ``zoo serve``.

They come from a TF Serving source tree (``tensorflow_serving/example``), which
this project does not ship: set ``ZOO_TF_SERVING_SRC`` to a checkout of
``tensorflow/serving`` (or to its ``example`` folder) to run them; without it
these tests skip. What they need offline is made here: MNIST-format IDX files
(scikit-learn's digits at 28x28, so ``mnist_input_data`` downloads nothing) and
the model ``mnist_saved_model.py`` exports (softmax regression,
``predict_images``: ``images`` -> ``scores``).

    ZOO_TF_SERVING_SRC=/path/to/serving .venv/bin/python -m pytest -q tests/serving/test_tf_serving_examples.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from serving import config as config_lib
from serving.server import ModelServer
from tests.serving import tfs_models


def _example_dir() -> str | None:
    root = os.environ.get("ZOO_TF_SERVING_SRC", "")
    for candidate in (os.path.join(root, "tensorflow_serving", "example"), root):
        if root and os.path.isfile(os.path.join(candidate, "mnist_client.py")):
            return candidate
    return None


EXAMPLES = _example_dir()
pytestmark = pytest.mark.skipif(EXAMPLES is None, reason="set ZOO_TF_SERVING_SRC to a tensorflow/serving checkout")


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    data = tfs_models.mnist_digits()
    work_dir = tfs_models.write_mnist_idx_files(str(root / "work"), data)
    tfs_models.write_mnist_softmax(str(root / "models" / "mnist" / "1"), *data["train"])
    test_images, test_labels = data["test"]
    return {"work_dir": work_dir, "base": str(root / "models" / "mnist"), "test": (test_images, test_labels)}


def test_the_idx_files_read_back_as_written(mnist):
    sys.path.insert(0, EXAMPLES)
    try:
        import mnist_input_data
    finally:
        sys.path.remove(EXAMPLES)
    test = mnist_input_data.read_data_sets(mnist["work_dir"]).test
    images, labels = mnist["test"]
    assert test.images.shape == (len(images), 784)
    np.testing.assert_array_equal(test.labels, labels)
    np.testing.assert_allclose(test.images, images.reshape(len(images), -1) / 255.0, atol=1e-6)


@pytest.mark.parametrize("batching", [False, True])
def test_mnist_client_runs_against_zoo_serve(mnist, batching):
    """example/mnist_client.py: 100 concurrent Predict futures, reading ``outputs['scores'].float_val``."""
    from serving.batching import BatchingOptions

    options = BatchingOptions(max_batch_size=8, batch_timeout_micros=2000, num_batch_threads=1) if batching else None
    with ModelServer(config_lib.single_model_config("mnist", mnist["base"]), port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=0, batching=options) as server:
        done = subprocess.run(
            [sys.executable, os.path.join(EXAMPLES, "mnist_client.py"), "--num_tests=100", "--concurrency=4",
             f"--server=127.0.0.1:{server.grpc_port}", f"--work_dir={mnist['work_dir']}"],
            capture_output=True, text=True, timeout=300, cwd=EXAMPLES,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=EXAMPLES))
    assert done.returncode == 0, done.stderr[-2000:]
    match = re.search(r"Inference error rate: ([\d.]+)%", done.stdout)
    assert match, done.stdout[-2000:]
    assert done.stdout.count(".") >= 100  # one dot per answered request
    # The client's first 100 test images, in order: its error rate is the model's own on them, to the percent.
    import tensorflow as tf
    images, labels = mnist["test"]
    predict = tf.saved_model.load(os.path.join(mnist["base"], "1")).signatures["predict_images"]
    scores = predict(images=tf.constant(images[:100].reshape(100, -1) / 255.0, tf.float32))["scores"].numpy()
    expected = 100.0 * float(np.mean(scores.argmax(axis=1) != labels[:100]))
    assert float(match.group(1)) == pytest.approx(expected) and expected < 20.0

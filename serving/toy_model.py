"""A tiny SavedModel with the digits contract, for tests, benchmarks and demos.

A fixed linear map plus softmax over a 64-pixel ``image`` feature: no
training, deterministic weights from ``seed``. Signatures match what the
pipelines push for the digits CNN:

* ``serving_default``: ``examples`` (serialized tf.Example, string ``[None]``)
  -> ``probabilities`` float32 ``[None, 10]``, ``classes`` int64 ``[None]``;
* ``predict_raw``: ``image`` int64 ``[None, 64]`` -> the same outputs;
* ``score``: ``examples`` -> ``score`` float32 ``[None]`` (top probability),
  the source of the regress signature;

plus the ``classification``/``regression`` SignatureDefs of
:mod:`serving.signatures`.

Example::

    path = write_toy_model("/tmp/models/digits", version=1)
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from serving import signatures

NUM_PIXELS = 64
NUM_CLASSES = 10


def toy_weights(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The fixed ``(W [64, 10], b [10])`` of the toy model for ``seed``."""
    rng = np.random.default_rng(seed)
    return (rng.normal(0, 0.05, (NUM_PIXELS, NUM_CLASSES)).astype(np.float32),
            rng.normal(0, 0.1, NUM_CLASSES).astype(np.float32))


def toy_predict(images: np.ndarray, seed: int) -> np.ndarray:
    """Reference probabilities of the toy model (NumPy, float64)."""
    w, b = toy_weights(seed)
    logits = images.astype(np.float64) @ w + b
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def make_example(image: np.ndarray) -> bytes:
    """A serialized tf.Example with the int64 ``image`` feature."""
    feature = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in image]))
    return tf.train.Example(features=tf.train.Features(feature={"image": feature})).SerializeToString()


class _ToyModule(tf.Module):
    def __init__(self, seed: int):
        super().__init__()
        w, b = toy_weights(seed)
        self.w = tf.Variable(w)
        self.b = tf.Variable(b)

    def _predict(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = tf.nn.softmax(tf.matmul(tf.cast(image, tf.float32), self.w) + self.b)
        return {"probabilities": probabilities, "classes": tf.argmax(probabilities, axis=-1)}

    def _parse(self, examples: tf.Tensor) -> tf.Tensor:
        spec = {"image": tf.io.FixedLenFeature([NUM_PIXELS], tf.int64)}
        return tf.io.parse_example(examples, spec)["image"]

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._predict(self._parse(examples))

    @tf.function(input_signature=[tf.TensorSpec([None, NUM_PIXELS], tf.int64, name="image")])
    def serve_raw(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._predict(image)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def score(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"score": tf.reduce_max(self._predict(self._parse(examples))["probabilities"], axis=-1)}


def write_toy_model(model_base_path: str, version: int, seed: int | None = None) -> str:
    """Writes version ``version`` (weights from ``seed``, default ``version``); returns its path."""
    module = _ToyModule(version if seed is None else seed)
    path = os.path.join(model_base_path, str(version))
    tf.saved_model.save(module, path, signatures={
        "serving_default": module.serve_examples.get_concrete_function(),
        "predict_raw": module.serve_raw.get_concrete_function(),
        "score": module.score.get_concrete_function(),
    })
    signatures.add_classify_regress_signatures(
        path, regression_source="score", regression_output="score")
    return path


def copy_version(source_base: str, version: int, base: str, as_version: int | None = None) -> str:
    """Publishes ``source_base/<version>`` into ``base`` atomically (staging dir, then rename)."""
    import shutil  # pylint: disable=import-outside-toplevel
    os.makedirs(base, exist_ok=True)
    name = str(as_version or version)
    staging = os.path.join(base, f".staging-{name}")
    shutil.copytree(os.path.join(source_base, str(version)), staging)
    target = os.path.join(base, name)
    os.rename(staging, target)
    return target

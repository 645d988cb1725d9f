"""TF Serving's own test models, rebuilt as its ``saved_model_half_plus_two.py`` writes them.

* :func:`write_half_plus_two_tf1`: the TF1 graph (``SavedModelBuilder``):
  ``serving_default`` takes ``x`` (DT_FLOAT, the identity of a parsed feature,
  TensorInfo shape ``[-1, 1]``) to ``y = 0.5 x + b``; ``regress_x_to_y`` and
  ``classify_x_to_y`` take the serialized-example placeholder ``tf_example``;
  and, as in TF Serving's ``saved_model_half_plus_three`` test model (the one
  its REST docs use), a ``tensorflow/serving/regress`` signature whose input
  TensorInfo says DT_FLOAT although ``tf_example`` is a string placeholder.
* :func:`write_half_plus_two_tf2`: the native TF2 ``HalfPlusTwoModel``
  (``tf.saved_model.save``, so every signature's method is *predict*).
* :func:`write_counter_model`: a ``while_loop`` of ``n`` steps, to exceed timeouts.
"""

from __future__ import annotations

import os

import tensorflow as tf
from tensorflow.core.framework import types_pb2


def _feature_spec() -> dict:
    return {"x": tf.io.FixedLenFeature([1], dtype=tf.float32),
            "x2": tf.io.FixedLenFeature([1], dtype=tf.float32, default_value=[0.0])}


def write_half_plus_two_tf1(export_dir: str, b: float = 2.0) -> str:
    """TF Serving's TF1 ``half_plus_two`` (``b=3.0``: ``half_plus_three``); returns ``export_dir``."""
    v1 = tf.compat.v1
    utils, sig_utils = v1.saved_model.utils, v1.saved_model.signature_def_utils
    with tf.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        a = v1.Variable(0.5, name="a")
        bias = v1.Variable(b, name="b")
        serialized = v1.placeholder(tf.string, name="tf_example", shape=[None])
        parsed = v1.io.parse_example(serialized, _feature_spec())
        x = tf.identity(parsed["x"], name="x")
        y = tf.identity(tf.add(tf.multiply(a, x), bias), name="y")
        predict = sig_utils.build_signature_def({"x": utils.build_tensor_info(x)}, {"y": utils.build_tensor_info(y)},
                                                "tensorflow/serving/predict")
        regress = sig_utils.build_signature_def({"inputs": utils.build_tensor_info(serialized)},
                                                {"outputs": utils.build_tensor_info(y)}, "tensorflow/serving/regress")
        classify = sig_utils.build_signature_def({"inputs": utils.build_tensor_info(serialized)},
                                                 {"scores": utils.build_tensor_info(y)}, "tensorflow/serving/classify")
        mislabeled = type(regress)()
        mislabeled.CopyFrom(regress)
        mislabeled.inputs["inputs"].dtype = types_pb2.DT_FLOAT  # as in TF Serving's half_plus_three
        mislabeled.inputs["inputs"].ClearField("tensor_shape")
        mislabeled.outputs["outputs"].ClearField("tensor_shape")
        sess.run(v1.global_variables_initializer())
        builder = v1.saved_model.builder.SavedModelBuilder(export_dir)
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={
            "serving_default": predict, "regress_x_to_y": regress, "classify_x_to_y": classify,
            "tensorflow/serving/regress": mislabeled})
        builder.save()
    return export_dir


class HalfPlusTwoModel(tf.Module):
    """TF Serving's native TF2 half-plus-two model."""

    def __init__(self):
        super().__init__()
        self.a = tf.Variable(0.5, name="a")
        self.b = tf.Variable(2.0, name="b")

    @tf.function(input_signature=[tf.TensorSpec(shape=[1], dtype=tf.float32)])
    def predict(self, x):
        return {"y": self.a * x + self.b}

    @tf.function(input_signature=[tf.TensorSpec([None], dtype=tf.string, name="inputs")])
    def regress_xy(self, serialized_proto):
        x = tf.io.parse_example(serialized_proto, _feature_spec())["x"]
        return {"outputs": self.a * x + self.b}

    @tf.function(input_signature=[tf.TensorSpec([None], dtype=tf.string, name="inputs")])
    def classify_xy(self, serialized_proto):
        x = tf.io.parse_example(serialized_proto, _feature_spec())["x"]
        return {"scores": self.a * x + self.b}


def write_half_plus_two_tf2(export_dir: str) -> str:
    model = HalfPlusTwoModel()
    tf.saved_model.save(model, export_dir, signatures={
        "serving_default": model.predict, "regress_x_to_y": model.regress_xy,
        "classify_x_to_y": model.classify_xy})
    return export_dir


class _Counter(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([], tf.int64, name="n")])
    def count(self, n):
        (i,) = tf.while_loop(lambda i: i < n, lambda i: (i + 1,), (tf.constant(0, tf.int64),))
        return {"count": i}


def write_counter_model(export_dir: str) -> str:
    module = _Counter()
    tf.saved_model.save(module, export_dir, signatures={"serving_default": module.count})
    return export_dir


def example(x: float) -> tf.train.Example:
    return tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))}))


def version_dir(base: str, version: int) -> str:
    return os.path.join(base, str(version))


def write_add_with_default(export_dir: str) -> str:
    """A TF1 model ``z = x + y`` whose signature carries a ``defaults`` entry for ``y`` (10.0)."""
    v1 = tf.compat.v1
    utils, sig_utils = v1.saved_model.utils, v1.saved_model.signature_def_utils
    with tf.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        x = v1.placeholder(tf.float32, name="x", shape=[None])
        y = v1.placeholder(tf.float32, name="y", shape=[None])
        offset = v1.Variable(0.0, name="offset")  # a variables shard, as every complete version has
        z = tf.add(x + offset, y, name="z")
        sig = sig_utils.build_signature_def({"x": utils.build_tensor_info(x), "y": utils.build_tensor_info(y)},
                                            {"z": utils.build_tensor_info(z)}, "tensorflow/serving/predict")
        sig.defaults["y"].CopyFrom(tf.make_tensor_proto([10.0], dtype=tf.float32))
        sess.run(v1.global_variables_initializer())
        builder = v1.saved_model.builder.SavedModelBuilder(export_dir)
        builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig})
        builder.save()
    return export_dir


def mnist_digits() -> dict[str, tuple]:
    """scikit-learn's 8x8 digits as MNIST-shaped data: 28x28 uint8 (each pixel 3x3, a 2-pixel border).

    ``{"train": (images, labels), "test": (images, labels)}``; the last 300 digits are the test split.
    """
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    big = np.kron(digits.images, np.ones((3, 3))) * (255.0 / 16.0)
    images = np.pad(big, ((0, 0), (2, 2), (2, 2))).round().astype(np.uint8)
    labels = digits.target.astype(np.uint8)
    return {"train": (images[:-300], labels[:-300]), "test": (images[-300:], labels[-300:])}


def write_mnist_idx_files(work_dir: str, data: dict[str, tuple]) -> str:
    """The four gzipped IDX files of the MNIST distribution (big-endian magic 2051/2049 and sizes), so that
    readers of MNIST (TF Serving's ``example/mnist_input_data.py``) find them in ``work_dir`` and download
    nothing."""
    import gzip
    import struct

    os.makedirs(work_dir, exist_ok=True)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = data[split]
        n, rows, cols = images.shape
        with gzip.open(os.path.join(work_dir, f"{prefix}-images-idx3-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, rows, cols) + images.tobytes())
        with gzip.open(os.path.join(work_dir, f"{prefix}-labels-idx1-ubyte.gz"), "wb") as f:
            f.write(struct.pack(">II", 2049, n) + labels.tobytes())
    return work_dir


def write_mnist_softmax(export_dir: str, images, labels) -> str:
    """The model of TF Serving's ``example/mnist_saved_model.py``: softmax regression on flattened [0, 1]
    pixels, a TF1 SavedModel whose ``predict_images`` signature takes ``images`` (float, ``[-1, 784]``) to
    ``scores``; fitted here by scikit-learn's logistic regression instead of 1,000 SGD steps."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    fit = LogisticRegression(max_iter=300).fit(x, labels)
    v1 = tf.compat.v1
    utils, sig_utils = v1.saved_model.utils, v1.saved_model.signature_def_utils
    with tf.Graph().as_default() as graph, v1.Session(graph=graph) as sess:
        pixels = v1.placeholder(tf.float32, shape=[None, x.shape[1]], name="x")
        w = v1.Variable(fit.coef_.T.astype(np.float32), name="weights")
        b = v1.Variable(fit.intercept_.astype(np.float32), name="biases")
        scores = tf.nn.softmax(tf.matmul(pixels, w) + b, name="y")
        sess.run(v1.global_variables_initializer())
        predict = sig_utils.build_signature_def({"images": utils.build_tensor_info(pixels)},
                                                {"scores": utils.build_tensor_info(scores)},
                                                "tensorflow/serving/predict")
        builder = v1.saved_model.Builder(export_dir)
        builder.add_meta_graph_and_variables(sess, [tf.saved_model.SERVING],
                                             signature_def_map={"predict_images": predict})
        builder.save()
    return export_dir

"""GenerativeEvaluator: its metrics, the reference classifier cache, and Do()
on tiny SavedModels with the families' signature names; a generator below its
threshold is not blessed, and the stock Pusher then refuses to push it."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from components.generative_evaluator import metrics as gm
from components.generative_evaluator import reference

# ------------------------------------------------------------------------ metrics


def test_frechet_distance_of_shifted_and_scaled_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20000, 2))
    b = 2.0 * rng.normal(size=(20000, 2)) + np.array([1.0, 0.0])
    # |mu|^2 + tr(I + 4I - 2 * 2I) = 1 + 2
    assert gm.frechet_distance(a, b) == pytest.approx(3.0, abs=0.1)
    assert gm.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="same d"):
        gm.frechet_distance(a, a[:, :1])


def test_class_consistency_confidence_and_auc():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert gm.class_consistency(probabilities, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    assert gm.mean_confidence(probabilities) == pytest.approx((0.9 + 0.8 + 0.6) / 3)
    assert gm.roc_auc(np.array([0.0, 0.1]), np.array([0.5, 0.6])) == 1.0


def test_negative_elbo_against_hand_computation():
    x = np.array([[1.0, 0.0]])
    m = gm.negative_elbo(x, np.array([[1.0]]), np.array([[0.0]]), lambda z: np.array([[0.8, 0.25]]), seed=3)
    assert m["reconstruction_nll"] == pytest.approx(-np.log(0.8) - np.log(0.75))
    assert m["kl"] == pytest.approx(0.5)
    assert m["neg_elbo"] == pytest.approx(m["reconstruction_nll"] + 0.5)


@pytest.mark.parametrize("kind", gm.CORRUPTIONS)
def test_corrupt_changes_images_within_range(kind):
    images = np.full((4, 8, 8, 1), 0.5, np.float32)
    out = gm.corrupt(images, kind, 0.3, seed=1)
    assert out.shape == images.shape and 0 <= out.min() and out.max() <= 1
    assert not np.allclose(out, images)
    np.testing.assert_array_equal(out, gm.corrupt(images, kind, 0.3, seed=1))
    with pytest.raises(ValueError, match="salt_pepper"):
        gm.corrupt(images, "blur")


def test_thresholds_and_regression_directions():
    t = gm.parse_thresholds({"roc_auc": {"lower_bound": 0.9}, "neg_elbo": {"upper_bound": 30},
                             "no_regression": {"neg_elbo": 0.5, "roc_auc": 0.0}})
    assert gm.validate({"roc_auc": 0.95, "neg_elbo": 25.0}, t)[0]
    assert not gm.validate({"roc_auc": 0.85, "neg_elbo": 25.0}, t)[0]
    assert not gm.validate({"roc_auc": 0.95, "neg_elbo": 31.0}, t)[0]
    baseline = {"roc_auc": 0.96, "neg_elbo": 24.8}
    blessed, checks = gm.validate({"roc_auc": 0.97, "neg_elbo": 25.2}, t, baseline)  # within tolerance
    assert blessed and {c["check"] for c in checks} == {"lower_bound", "upper_bound", "no_regression"}
    assert not gm.validate({"roc_auc": 0.95, "neg_elbo": 25.0}, t, baseline)[0]  # AUC regressed
    assert not gm.validate({"roc_auc": 0.97, "neg_elbo": 25.5}, t, baseline)[0]  # ELBO regressed
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        gm.parse_thresholds({"accuracy": {"lower_bound": 0.9}})
    with pytest.raises(ValueError, match="upper_bound"):
        gm.parse_thresholds({"fid": {"below": 3}})
    with pytest.raises(ValueError, match="does not have"):
        gm.validate({"fid": 1.0}, gm.parse_thresholds({"roc_auc": {"lower_bound": 0.5}}))


# ----------------------------------------------------------- reference classifier


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("reference"))
    reference.load_reference_classifier(path)  # trains once for this module
    return path


def test_reference_classifier_is_accurate_and_cached(cache_dir):
    files = sorted(os.listdir(cache_dir))
    mtimes = [os.path.getmtime(os.path.join(cache_dir, f)) for f in files]
    judge = reference.load_reference_classifier(cache_dir)
    assert sorted(os.listdir(cache_dir)) == files  # loaded, not retrained
    assert [os.path.getmtime(os.path.join(cache_dir, f)) for f in files] == mtimes
    assert judge.accuracy >= 0.95
    _, x_test, _, y_test = reference.load_digits_split()
    probabilities, features = judge.predict(x_test)
    assert probabilities.shape == (len(x_test), 10) and features.shape == (len(x_test), 64)
    assert np.mean(np.argmax(probabilities, 1) == y_test) == pytest.approx(judge.accuracy)


# ------------------------------------------------------------------- executor Do()

tfx = pytest.importorskip("tfx")
from tfx.components.pusher import executor as pusher_executor  # noqa: E402  (after importorskip)
from tfx.types import artifact_utils, standard_artifacts  # noqa: E402

from components.generative_evaluator import (  # noqa: E402
    GenerativeEvaluator,
    executor,
)

DIGITS = load_digits()
RAW = np.rint(DIGITS.images.reshape(-1, 64) / 16.0 * 255).astype(np.int64)
LABELS = DIGITS.target.astype(np.int64)
EVAL = slice(0, 200)


def _example(image: np.ndarray, label: int) -> bytes:
    return tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(int64_list=tf.train.Int64List(value=image.tolist())),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
    })).SerializeToString()


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> standard_artifacts.Examples:
    root = tmp_path_factory.mktemp("examples")
    os.makedirs(root / "Split-eval")
    with tf.io.TFRecordWriter(str(root / "Split-eval" / "data_tfrecord-00000-of-00001.gz"), "GZIP") as writer:
        for image, label in zip(RAW[EVAL], LABELS[EVAL]):
            writer.write(_example(image, label))
    artifact = standard_artifacts.Examples()
    artifact.uri = str(root)
    artifact.split_names = artifact_utils.encode_split_names(["train", "eval"])
    return artifact


def _parse_images(examples: tf.Tensor) -> tf.Tensor:
    parsed = tf.io.parse_example(examples, {"image": tf.io.FixedLenFeature([64], tf.int64),
                                            "label": tf.io.FixedLenFeature([1], tf.int64)})
    return tf.reshape(tf.cast(parsed["image"], tf.float32) / 255.0, (-1, 8, 8, 1))


EXAMPLES_SPEC = tf.TensorSpec((None,), tf.string)


class TinyGan(tf.Module):
    """``generate`` returns a class template (good) or noise (bad)."""

    def __init__(self, good: bool) -> None:
        super().__init__()
        images = RAW[200:].reshape(-1, 8, 8, 1) / 255.0
        self.templates = tf.constant(np.stack([images[LABELS[200:] == c].mean(0) for c in range(10)]),
                                     tf.float32)
        self.good = good

    @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32), tf.TensorSpec((None,), tf.int64)])
    def generate(self, z, label):
        if self.good:
            return {"image": tf.gather(self.templates, label)}
        return {"image": tf.random.stateless_uniform((tf.shape(z)[0], 8, 8, 1), seed=(1, 2))}


class TinyVae(tf.Module):
    """``z_mean`` = mean pixel, ``z_log_var`` = 0, decoder = constant ``p``."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    @tf.function(input_signature=[EXAMPLES_SPEC])
    def encode(self, examples):
        images = _parse_images(examples)
        z_mean = tf.reduce_mean(images, axis=[1, 2])  # (n, 1)
        return {"z_mean": z_mean, "z_log_var": tf.zeros_like(z_mean)}

    @tf.function(input_signature=[tf.TensorSpec((None, 1), tf.float32)])
    def decode(self, z):
        return {"image": tf.fill((tf.shape(z)[0], 8, 8, 1), self.p)}


class TinyAutoencoder(tf.Module):
    """Reconstructs every input as the mean digit: noise moves inputs away from it."""

    def __init__(self) -> None:
        super().__init__()
        self.mean = tf.constant(RAW[200:].mean(0).reshape(1, 8, 8, 1) / 255.0, tf.float32)

    @tf.function(input_signature=[EXAMPLES_SPEC])
    def score(self, examples):
        images = _parse_images(examples)
        return {"reconstruction_error": tf.reduce_mean(tf.square(images - self.mean), axis=[1, 2, 3])}


def _model_artifact(tmp_path, name: str, module: tf.Module, signatures: list[str]) -> standard_artifacts.Model:
    artifact = standard_artifacts.Model()
    artifact.uri = str(tmp_path / name)
    tf.saved_model.save(module, os.path.join(artifact.uri, "Format-Serving"),
                        signatures={s: getattr(module, s) for s in signatures})
    return artifact


def _do(tmp_path, examples, model, thresholds, baseline=None, cache=None, **extra):
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(tmp_path / "evaluation"), str(tmp_path / "blessing")
    inputs = {"model": [model], "examples": [examples]}
    if baseline is not None:
        inputs["baseline_model"] = [baseline]
    props = {"thresholds": json.dumps(thresholds), "num_samples": 200, "cache_dir": cache, **extra}
    executor.Executor().Do(inputs, {"evaluation": [evaluation], "blessing": [blessing]}, props)
    with open(os.path.join(evaluation.uri, executor.METRICS_FILE)) as f:
        return json.load(f), blessing


def _pushes(blessing) -> bool:
    return pusher_executor.Executor().CheckBlessing({"model_blessing": [blessing]})


def test_conditional_generator_below_threshold_is_not_pushed(tmp_path, examples, cache_dir):
    thresholds = {"class_consistency": {"lower_bound": 0.9}}
    good = _model_artifact(tmp_path, "good", TinyGan(good=True), ["generate"])
    report, blessing = _do(tmp_path / "a", examples, good, thresholds, cache=cache_dir)
    assert report["metrics"]["class_consistency"] >= 0.9 and report["blessed"]
    assert blessing.get_int_custom_property("blessed") == 1 and _pushes(blessing)
    assert os.path.exists(os.path.join(blessing.uri, "BLESSED"))

    bad = _model_artifact(tmp_path, "bad", TinyGan(good=False), ["generate"])
    report, blessing = _do(tmp_path / "b", examples, bad, thresholds, cache=cache_dir)
    assert report["metrics"]["class_consistency"] < 0.5 and not report["blessed"]
    assert report["metrics"]["fid"] > 0
    assert blessing.get_int_custom_property("blessed") == 0 and not _pushes(blessing)
    assert os.path.exists(os.path.join(blessing.uri, "NOT_BLESSED"))


def test_vae_elbo_through_signatures_and_no_regression(tmp_path, examples, cache_dir):
    images = RAW[EVAL].astype(np.float64) / 255.0
    pixel_mean = images.mean(1)

    def expected(p: float) -> float:  # Bernoulli NLL with constant p, KL of N(mean pixel, 1)
        nll = -(images * np.log(p) + (1 - images) * np.log(1 - p)).sum(1)
        return float(np.mean(nll + 0.5 * pixel_mean ** 2))

    vae = _model_artifact(tmp_path, "vae", TinyVae(0.3), ["encode", "decode"])
    report, blessing = _do(tmp_path / "a", examples, vae, {"neg_elbo": {"upper_bound": 100.0}}, cache=cache_dir)
    assert report["metrics"]["neg_elbo"] == pytest.approx(expected(0.3), rel=1e-4)
    assert {"fid", "sample_confidence", "kl"} <= set(report["metrics"]) and report["blessed"]

    worse = _model_artifact(tmp_path, "worse", TinyVae(0.5), ["encode", "decode"])
    thresholds = {"neg_elbo": {"upper_bound": 100.0}, "no_regression": ["neg_elbo"]}
    assert expected(0.5) > expected(0.3)
    report, blessing = _do(tmp_path / "b", examples, worse, thresholds, baseline=vae, cache=cache_dir)
    assert report["baseline_metrics"]["neg_elbo"] == pytest.approx(expected(0.3), rel=1e-4)
    assert not report["blessed"] and not _pushes(blessing)
    assert blessing.get_string_custom_property("baseline_model") == vae.uri
    report, _ = _do(tmp_path / "c", examples, vae, thresholds, baseline=worse, cache=cache_dir)
    assert report["blessed"]


def test_autoencoder_anomaly_auc(tmp_path, examples):
    ae = _model_artifact(tmp_path, "ae", TinyAutoencoder(), ["score"])
    report, blessing = _do(tmp_path / "a", examples, ae, {"roc_auc": {"lower_bound": 0.9}},
                           corruption=json.dumps({"kind": "salt_pepper", "strength": 0.3}))
    m = report["metrics"]
    assert m["corrupted_reconstruction_error"] > m["clean_reconstruction_error"]
    assert m["roc_auc"] > 0.9 and report["blessed"] and _pushes(blessing)
    report, blessing = _do(tmp_path / "b", examples, ae, {"roc_auc": {"lower_bound": 0.99}},
                           corruption=json.dumps({"kind": "gaussian", "strength": 0.01}))
    assert report["metrics"]["roc_auc"] < 0.99 and not _pushes(blessing)


def test_unknown_model_kind_is_a_clear_error(tmp_path, examples):
    module = TinyAutoencoder()
    module.predict = module.score
    artifact = _model_artifact(tmp_path, "odd", module, ["predict"])
    with pytest.raises(ValueError, match="cannot tell the generative model kind"):
        _do(tmp_path / "a", examples, artifact, {})


def test_component_builds_and_rejects_bad_thresholds():
    from tfx.types import channel_utils

    model = channel_utils.as_channel([standard_artifacts.Model()])
    data = channel_utils.as_channel([standard_artifacts.Examples()])
    component = GenerativeEvaluator(model=model, examples=data, thresholds={"fid": {"upper_bound": 10}})
    assert set(component.outputs) == {"evaluation", "blessing"}
    assert json.loads(component.exec_properties["thresholds"]) == {"fid": {"upper_bound": 10}}
    with pytest.raises(ValueError, match="unknown metric"):
        GenerativeEvaluator(model=model, examples=data, thresholds={"accuracy": {"lower_bound": 1}})

"""GenerativeEvaluator: its metrics, the reference classifier (a parameter, cached
per reference), and Do() on tiny SavedModels judged by the roles their family
declares; a generator below its threshold is not blessed, and the stock Pusher
then refuses to push it; the figures each role draws for the report."""

from __future__ import annotations

import json
import os
import shutil

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


# ----------------------------------------------------------- reference classifier

HALVES = "tests.components.test_generative_evaluator.halves"


def halves() -> reference.ReferenceData:
    """A second reference: 4x4 images, class 0 bright in the top half, class 1 in the bottom half."""
    rng = np.random.default_rng(0)
    labels = np.arange(400) % 2
    images = rng.uniform(0.0, 0.3, (400, 4, 4, 1))
    images[labels == 0, :2] += 0.7
    images[labels == 1, 2:] += 0.7
    return reference.ReferenceData(np.clip(images, 0, 1), labels, (4, 4, 1), 2)


HALF_TEMPLATES = np.stack([np.r_[np.ones((2, 4)), np.zeros((2, 4))], np.r_[np.zeros((2, 4)), np.ones((2, 4))]])


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
    assert judge.accuracy >= 0.95 and judge.image_shape == (8, 8, 1) and judge.num_classes == 10
    _, x_test, _, y_test = reference.load_digits_split()
    probabilities, features = judge.predict(x_test)
    assert probabilities.shape == (len(x_test), 10) and features.shape == (len(x_test), 64)
    assert np.mean(np.argmax(probabilities, 1) == y_test) == pytest.approx(judge.accuracy)


def test_reference_is_a_parameter_cached_by_its_identity(tmp_path, cache_dir):
    folder = str(tmp_path)
    for name in os.listdir(cache_dir):  # the digits judge already cached here
        shutil.copy(os.path.join(cache_dir, name), os.path.join(folder, name))
    judge = reference.load_reference_classifier(folder, reference=HALVES)
    models = sorted(f for f in os.listdir(folder) if f.endswith(".keras"))
    assert len(models) == 2 and any(f.startswith(HALVES) for f in models)  # its own file, the digits one kept
    assert judge.image_shape == (4, 4, 1) and judge.num_classes == 2 and judge.accuracy >= 0.95
    probabilities, _ = judge.predict(HALF_TEMPLATES[..., None])
    assert probabilities.shape == (2, 2) and list(np.argmax(probabilities, 1)) == [0, 1]
    with pytest.raises(ValueError, match=r"judges images \(4, 4, 1\)"):
        judge.predict(np.zeros((3, 8, 8, 1)))
    # Other data under the same path is another judge.
    data = halves()
    other = reference.ReferenceData(data.images[::-1], data.labels[::-1], (4, 4, 1), 2)
    assert reference.cache_name(HALVES, other, 0, 40) != reference.cache_name(HALVES, data, 0, 40)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        reference.ReferenceData(data.images * 2, data.labels, (4, 4, 1), 2)


# ------------------------------------------------------------------- executor Do()

tfx = pytest.importorskip("tfx")
from tfx.components.pusher import executor as pusher_executor  # noqa: E402  (after importorskip)
from tfx.types import standard_artifacts  # noqa: E402

from components.evaluator.served import ServedModel  # noqa: E402
from components.generative_evaluator import (  # noqa: E402
    GenerativeEvaluator,
    executor,
)
from models.base import DECODE, DENSITY, ENCODE, GENERATE, SAMPLE, SCORE  # noqa: E402
from pipelines.config import Threshold  # noqa: E402
from tests.fixtures.evaluator_harness import eval_examples, run_evaluator, saved_model  # noqa: E402

DIGITS = load_digits()
RAW = np.rint(DIGITS.images.reshape(-1, 64) / 16.0 * 255).astype(np.int64)
LABELS = DIGITS.target.astype(np.int64)
EVAL = slice(0, 200)
TEMPLATES = np.stack([(RAW[200:].reshape(-1, 8, 8) / 255.0)[LABELS[200:] == c].mean(0) for c in range(10)])
FIRST_OF_CLASS = np.unique(LABELS[EVAL], return_index=True)[1]

GAN_ROLES = {"generate": GENERATE}
VAE_ROLES = {"encode": ENCODE, "decode": DECODE, "sample": SAMPLE}
AE_ROLES = {"score": SCORE, "encode": ENCODE}


def _example(image: np.ndarray, label: int) -> bytes:
    return tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(int64_list=tf.train.Int64List(value=image.tolist())),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
    })).SerializeToString()


def _examples_artifact(root, images: np.ndarray, labels: np.ndarray) -> standard_artifacts.Examples:
    records = (_example(image, label) for image, label in zip(images, labels))
    return eval_examples(root, records, splits=("train", "eval"), file_name="data_tfrecord-00000-of-00001.gz")


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> standard_artifacts.Examples:
    return _examples_artifact(tmp_path_factory.mktemp("examples"), RAW[EVAL], LABELS[EVAL])


def _parse_images(examples: tf.Tensor) -> tf.Tensor:
    parsed = tf.io.parse_example(examples, {"image": tf.io.FixedLenFeature([64], tf.int64),
                                            "label": tf.io.FixedLenFeature([1], tf.int64)})
    return tf.reshape(tf.cast(parsed["image"], tf.float32) / 255.0, (-1, 8, 8, 1))


EXAMPLES_SPEC = tf.TensorSpec((None,), tf.string)


class TinyGan(tf.Module):
    """``generate`` returns a class template (good) or noise (bad)."""

    def __init__(self, good: bool, templates: np.ndarray = TEMPLATES) -> None:
        super().__init__()
        self.templates = tf.constant(templates[..., None], tf.float32)
        self.good = good

    @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32), tf.TensorSpec((None,), tf.int64)])
    def generate(self, z, label):
        if self.good:
            return {"image": tf.gather(self.templates, label)}
        return {"image": tf.random.stateless_uniform((tf.shape(z)[0], *self.templates.shape[1:]), seed=(1, 2))}


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


class TraversedVae(tf.Module):
    """A 2-D latent: pixel (0, 0) shows sigmoid(z[0]), pixel (0, 1) sigmoid(z[1]); ``encode`` is the identity
    on the first two pixels' logits."""

    @tf.function(input_signature=[EXAMPLES_SPEC])
    def encode(self, examples):
        pixels = tf.reshape(_parse_images(examples), (-1, 64))[:, :2]
        z_mean = tf.math.log(pixels + 1e-3) - tf.math.log(1.0 - pixels + 1e-3)
        return {"z_mean": z_mean, "z_log_var": tf.zeros_like(z_mean)}

    @tf.function(input_signature=[tf.TensorSpec((None, 2), tf.float32)])
    def decode(self, z):
        first = tf.concat([tf.sigmoid(z), tf.zeros((tf.shape(z)[0], 62))], axis=1)
        return {"image": tf.reshape(first, (-1, 8, 8, 1))}


class TinyAutoencoder(tf.Module):
    """Reconstructs every input as the mean digit: noise moves inputs away from it."""

    def __init__(self) -> None:
        super().__init__()
        self.mean = tf.constant(RAW[200:].mean(0).reshape(1, 8, 8, 1) / 255.0, tf.float32)

    @tf.function(input_signature=[EXAMPLES_SPEC])
    def score(self, examples):
        images = _parse_images(examples)
        return {"reconstruction_error": tf.reduce_mean(tf.square(images - self.mean), axis=[1, 2, 3]),
                "reconstruction": tf.tile(self.mean, (tf.shape(images)[0], 1, 1, 1))}

    @tf.function(input_signature=[EXAMPLES_SPEC])
    def encode(self, examples):
        return {"code": tf.reduce_mean(_parse_images(examples), axis=[1, 2])}


def _model_artifact(tmp_path, name: str, module: tf.Module, signatures: list[str]) -> standard_artifacts.Model:
    return saved_model(tmp_path / name, module, signatures)


def _do(tmp_path, examples, model, thresholds, roles, baseline=None, cache=None, **extra):
    run = run_evaluator(executor.Executor, tmp_path, examples, model, thresholds, roles, baseline,
                        num_samples=200, cache_dir=cache, **extra)
    run.report["figures"] = run.figures
    return run.report, run.blessing


def _pushes(blessing) -> bool:
    return pusher_executor.Executor().CheckBlessing({"model_blessing": [blessing]})


def test_conditional_generator_below_threshold_is_not_pushed(tmp_path, examples, cache_dir):
    thresholds = {"class_consistency": {"lower_bound": 0.9}}
    good = _model_artifact(tmp_path, "good", TinyGan(good=True), ["generate"])
    report, blessing = _do(tmp_path / "a", examples, good, thresholds, GAN_ROLES, cache=cache_dir)
    assert report["metrics"]["class_consistency"] >= 0.9 and report["blessed"]
    assert report["reference_classifier_accuracy"] >= 0.95
    assert blessing.get_int_custom_property("blessed") == 1 and _pushes(blessing)
    assert os.path.exists(os.path.join(blessing.uri, "BLESSED"))

    # One row per class, the same z down each column: every tile of row c is class c's template.
    generated = report["figures"]["generated"]
    assert generated.kind == "image_grid" and generated.labels["rows"] == [str(c) for c in range(10)]
    assert generated.arrays["images"].shape == (10, 10, 8, 8)
    np.testing.assert_allclose(generated.arrays["images"],
                               np.broadcast_to(TEMPLATES[:, None], (10, 10, 8, 8)), atol=1e-6)

    bad = _model_artifact(tmp_path, "bad", TinyGan(good=False), ["generate"])
    report, blessing = _do(tmp_path / "b", examples, bad, thresholds, GAN_ROLES, cache=cache_dir)
    assert report["metrics"]["class_consistency"] < 0.5 and not report["blessed"]
    assert report["metrics"]["fid"] > 0
    assert report["not_blessed_reasons"] == [
        f"class_consistency {report['metrics']['class_consistency']:.4f} below the lower bound 0.9"]
    assert blessing.get_int_custom_property("blessed") == 0 and not _pushes(blessing)
    assert blessing.get_string_custom_property("not_blessed_reasons").startswith("class_consistency")
    assert os.path.exists(os.path.join(blessing.uri, "NOT_BLESSED"))


def test_generator_under_another_reference(tmp_path, cache_dir):
    """4x4 two-class images judged by the ``halves`` reference: nothing assumes 8x8 digits or 10 classes."""
    labels = np.arange(40) % 2
    raw = np.rint(HALF_TEMPLATES[labels].reshape(-1, 16) * 255).astype(np.int64)
    data = _examples_artifact(tmp_path / "examples", raw, labels)
    model = _model_artifact(tmp_path, "gan", TinyGan(good=True, templates=HALF_TEMPLATES), ["generate"])
    report, blessing = _do(tmp_path / "a", data, model, {"class_consistency": {"lower_bound": 0.99}}, GAN_ROLES,
                           cache=cache_dir, reference=HALVES)
    assert report["metrics"]["class_consistency"] == 1.0 and report["blessed"] and _pushes(blessing)
    assert report["reference"] == HALVES
    generated = report["figures"]["generated"]
    assert generated.arrays["images"].shape == (2, 10, 4, 4) and generated.labels["rows"] == ["0", "1"]


def test_vae_elbo_through_signatures_and_no_regression(tmp_path, examples, cache_dir):
    images = RAW[EVAL].astype(np.float64) / 255.0
    pixel_mean = images.mean(1)

    def expected(p: float) -> float:  # Bernoulli NLL with constant p, KL of N(mean pixel, 1)
        nll = -(images * np.log(p) + (1 - images) * np.log(1 - p)).sum(1)
        return float(np.mean(nll + 0.5 * pixel_mean ** 2))

    vae = _model_artifact(tmp_path, "vae", TinyVae(0.3), ["encode", "decode"])
    report, blessing = _do(tmp_path / "a", examples, vae, {"neg_elbo": {"upper_bound": 100.0}}, VAE_ROLES,
                           cache=cache_dir)
    assert report["metrics"]["neg_elbo"] == pytest.approx(expected(0.3), rel=1e-4)
    assert {"fid", "sample_confidence", "kl"} <= set(report["metrics"]) and report["blessed"]
    assert report["baseline_metrics"] is None  # the first model: nothing to regress from

    figures = report["figures"]
    assert [f.kind for f in figures.values()] == ["image_grid"] * 3
    assert set(figures) == {"prior_samples", "latent_traversal", "reconstructions"}
    np.testing.assert_allclose(figures["prior_samples"].arrays["images"], np.full((8, 8, 8, 8), 0.3), atol=1e-6)
    assert figures["latent_traversal"].arrays["images"].shape == (1, 9, 8, 8)  # a 1-D latent: one row
    pairs = figures["reconstructions"].arrays["images"]
    assert pairs.shape == (2, 10, 8, 8) and figures["reconstructions"].labels["rows"] == ["original", "decoded"]
    np.testing.assert_allclose(pairs[0], RAW[EVAL][FIRST_OF_CLASS].reshape(10, 8, 8) / 255.0, atol=1e-6)
    np.testing.assert_allclose(pairs[1], 0.3, atol=1e-6)

    worse = _model_artifact(tmp_path, "worse", TinyVae(0.5), ["encode", "decode"])
    thresholds = {"neg_elbo": {"upper_bound": 100.0}, "no_regression": ["neg_elbo"]}
    assert expected(0.5) > expected(0.3)
    report, blessing = _do(tmp_path / "b", examples, worse, thresholds, VAE_ROLES, baseline=vae, cache=cache_dir)
    assert report["baseline_metrics"]["neg_elbo"] == pytest.approx(expected(0.3), rel=1e-4)
    assert not report["blessed"] and not _pushes(blessing)
    assert blessing.get_string_custom_property("baseline_model") == vae.uri
    assert "worse than the blessed baseline" in blessing.get_string_custom_property("not_blessed_reasons")
    report, _ = _do(tmp_path / "c", examples, vae, thresholds, VAE_ROLES, baseline=worse, cache=cache_dir)
    assert report["blessed"]
    # Within the tolerance, the worse model passes.
    tolerant = {"neg_elbo": {"upper_bound": 100.0}, "no_regression": {"neg_elbo": expected(0.5) - expected(0.3) + 0.1}}
    report, _ = _do(tmp_path / "d", examples, worse, tolerant, VAE_ROLES, baseline=vae, cache=cache_dir)
    assert report["blessed"]


def test_vae_traversal_varies_z0_down_rows_and_z1_across_columns(tmp_path, examples):
    model = _model_artifact(tmp_path, "vae", TraversedVae(), ["encode", "decode"])
    served = ServedModel(os.path.join(model.uri, "Format-Serving"), VAE_ROLES)
    judge = executor.Executor()
    params = judge.parameters({})
    figures = {f.name: f for f in judge.figures(served, _split(examples), params)}
    traversal = figures["latent_traversal"]
    grid = traversal.arrays["images"]
    values = np.linspace(-executor.TRAVERSAL_LIMIT, executor.TRAVERSAL_LIMIT, executor.TRAVERSAL_STEPS)
    assert grid.shape == (9, 9, 8, 8) and traversal.labels["row_title"] == "z[0]"
    np.testing.assert_allclose(grid[:, :, 0, 0], np.broadcast_to(1 / (1 + np.exp(-values[:, None])), (9, 9)),
                               atol=1e-5)
    np.testing.assert_allclose(grid[:, :, 0, 1], np.broadcast_to(1 / (1 + np.exp(-values[None, :])), (9, 9)),
                               atol=1e-5)
    assert traversal.labels["rows"] == traversal.labels["columns"] == [f"{v:+.2g}" for v in values]
    # Reconstructions: the encoded first two pixels come back, the rest is 0.
    pairs = figures["reconstructions"].arrays["images"]
    np.testing.assert_allclose(pairs[1, :, 0, :2], pairs[0, :, 0, :2], atol=5e-3)
    assert 0.0 <= grid.min() and grid.max() <= 1.0


def _split(examples) -> list[bytes]:
    from components.artifacts import read_split

    return read_split(examples.uri, "eval")


def test_autoencoder_anomaly_auc_and_score_histogram(tmp_path, examples):
    ae = _model_artifact(tmp_path, "ae", TinyAutoencoder(), ["score", "encode"])
    report, blessing = _do(tmp_path / "a", examples, ae, {"roc_auc": {"lower_bound": 0.9}}, AE_ROLES,
                           corruption=json.dumps({"kind": "salt_pepper", "strength": 0.3}))
    m = report["metrics"]
    assert m["corrupted_reconstruction_error"] > m["clean_reconstruction_error"]
    assert m["roc_auc"] > 0.9 and report["blessed"] and _pushes(blessing)
    assert report["reference_classifier_accuracy"] is None  # the score needs no judge

    mean = RAW[200:].mean(0) / 255.0
    expected_clean = np.mean(np.square(RAW[EVAL] / 255.0 - mean), axis=1)
    histogram = report["figures"]["anomaly_scores"]
    assert histogram.kind == "histogram" and set(histogram.arrays) == {"clean", "corrupted"}
    np.testing.assert_allclose(histogram.arrays["clean"], expected_clean, rtol=1e-4)
    assert histogram.arrays["corrupted"].shape == (200,)
    assert histogram.arrays["corrupted"].mean() == pytest.approx(m["corrupted_reconstruction_error"], rel=1e-5)
    grid = report["figures"]["anomaly_reconstructions"]
    assert grid.arrays["images"].shape == (4, 10, 8, 8) and len(grid.labels["rows"]) == 4
    np.testing.assert_allclose(grid.arrays["images"][1], np.broadcast_to(mean.reshape(8, 8), (10, 8, 8)), atol=1e-6)
    assert not np.allclose(grid.arrays["images"][2], grid.arrays["images"][0])  # the corrupted row

    report, blessing = _do(tmp_path / "b", examples, ae, {"roc_auc": {"lower_bound": 0.99}}, AE_ROLES,
                           corruption=json.dumps({"kind": "gaussian", "strength": 0.01}))
    assert report["metrics"]["roc_auc"] < 0.99 and not _pushes(blessing)


def test_roles_decide_what_is_judged(tmp_path, examples):
    module = TinyAutoencoder()
    artifact = _model_artifact(tmp_path, "ae", module, ["score", "encode"])
    # The same SavedModel declared as something the evaluator does not judge ...
    with pytest.raises(ValueError, match="include none the GenerativeEvaluator judges"):
        _do(tmp_path / "a", examples, artifact, {}, {"score": "features"})
    # ... or declaring a signature it does not serve.
    with pytest.raises(ValueError, match=r"declares signature\(s\) \['generate'\]"):
        _do(tmp_path / "b", examples, artifact, {}, {**AE_ROLES, "generate": GENERATE})
    # A threshold on a metric the roles do not produce.
    with pytest.raises(ValueError, match="does not have"):
        _do(tmp_path / "c", examples, artifact, {"fid": {"upper_bound": 1.0}}, AE_ROLES)


def test_component_builds_and_rejects_bad_thresholds():
    from tfx.types import channel_utils

    model = channel_utils.as_channel([standard_artifacts.Model()])
    data = channel_utils.as_channel([standard_artifacts.Examples()])
    component = GenerativeEvaluator(model=model, examples=data, signature_roles=VAE_ROLES,
                                    thresholds=[Threshold("fid", upper_bound=10, higher_is_better=False)],
                                    image_shape=[8, 8, 1])
    assert set(component.outputs) == {"evaluation", "blessing"}
    props = component.exec_properties
    assert json.loads(props["thresholds"]) == {"fid": {"upper_bound": 10.0}, "no_regression": {"fid": 0.0},
                                               "higher_is_better": {"fid": False}}
    assert json.loads(props["signature_roles"]) == VAE_ROLES and json.loads(props["image_shape"]) == [8, 8, 1]
    assert props["reference"] == reference.DEFAULT_REFERENCE
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        GenerativeEvaluator(model=model, examples=data, signature_roles=VAE_ROLES,
                            thresholds={"accuracy": {"lower_bound": 1}})
    with pytest.raises(ValueError, match="for the evaluator lower is better"):
        GenerativeEvaluator(model=model, examples=data, signature_roles=VAE_ROLES,
                            thresholds=[Threshold("neg_elbo", upper_bound=40.0)])  # higher_is_better=True
    with pytest.raises(ValueError, match="unknown signature role"):
        GenerativeEvaluator(model=model, examples=data, signature_roles={"generate": "paint"})
    with pytest.raises(ModuleNotFoundError):
        GenerativeEvaluator(model=model, examples=data, signature_roles=VAE_ROLES, reference="no_such.module.data")


# ------------------------------------------------ density (flow) and deterministic codes (AAE)

FLOW_ROLES = {"log_prob": DENSITY, "sample": SAMPLE}
AAE_ROLES = {"encode": ENCODE, "decode": DECODE, "sample": SAMPLE}


class TinyFlow(tf.Module):
    """``log_prob``: bits/dim = ``offset`` - 2 * mean pixel; ``sample``: the class templates in turn (good) or
    noise (bad)."""

    def __init__(self, offset: float, good: bool = True) -> None:
        super().__init__()
        self.offset, self.good = offset, good
        self.templates = tf.constant(TEMPLATES[..., None], tf.float32)

    @tf.function(input_signature=[EXAMPLES_SPEC])
    def log_prob(self, examples):
        bits = self.offset - 2.0 * tf.reduce_mean(_parse_images(examples), axis=[1, 2, 3])
        return {"bits_per_dim": bits, "log_likelihood": -bits * 64 * np.log(2.0)}

    @tf.function(input_signature=[tf.TensorSpec((), tf.int32)])
    def sample(self, count):
        if self.good:
            return {"image": tf.gather(self.templates, tf.range(count) % 10), "z": tf.zeros((count, 64))}
        return {"image": tf.random.stateless_uniform((count, 8, 8, 1), seed=(3, 4)), "z": tf.zeros((count, 64))}


class TinyAae(tf.Module):
    """A deterministic code (the mean pixel), a decoder of constant ``p`` and a sampler of class templates."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.templates = tf.constant(TEMPLATES[..., None], tf.float32)

    @tf.function(input_signature=[EXAMPLES_SPEC])
    def encode(self, examples):
        return {"z": tf.reduce_mean(_parse_images(examples), axis=[1, 2])}

    @tf.function(input_signature=[tf.TensorSpec((None, 1), tf.float32)])
    def decode(self, z):
        return {"image": tf.fill((tf.shape(z)[0], 8, 8, 1), self.p)}

    @tf.function(input_signature=[tf.TensorSpec((), tf.int32)])
    def sample(self, count):
        return {"image": tf.gather(self.templates, tf.range(count) % 10), "z": tf.zeros((count, 1))}


def test_flow_bits_per_dim_blesses_and_a_worse_flow_is_not_pushed(tmp_path, examples, cache_dir):
    expected = 6.0 - 2.0 * (RAW[EVAL] / 255.0).mean(1)
    thresholds = {"bits_per_dim": {"upper_bound": 6.0}, "no_regression": ["bits_per_dim"]}
    flow = _model_artifact(tmp_path, "flow", TinyFlow(6.0), ["log_prob", "sample"])
    report, blessing = _do(tmp_path / "a", examples, flow, thresholds, FLOW_ROLES, cache=cache_dir)
    m = report["metrics"]
    assert m["bits_per_dim"] == pytest.approx(expected.mean(), rel=1e-5)
    assert m["sample_confidence"] > 0.9 and m["fid"] < 100  # class templates: confident, near the data
    assert report["blessed"] and _pushes(blessing)
    assert "neg_elbo" not in m and "class_consistency" not in m

    figures = report["figures"]
    assert set(figures) == {"bits_per_dim", "samples"}
    np.testing.assert_allclose(figures["bits_per_dim"].arrays["eval"], expected, rtol=1e-5)
    np.testing.assert_allclose(figures["samples"].arrays["images"][0], TEMPLATES[:8], atol=1e-6)  # an 8x8 grid

    # Above the bound: not blessed, not pushed, the reason names bits_per_dim.
    worse = _model_artifact(tmp_path, "worse", TinyFlow(7.0, good=False), ["log_prob", "sample"])
    report, blessing = _do(tmp_path / "b", examples, worse, thresholds, FLOW_ROLES, cache=cache_dir)
    assert report["metrics"]["bits_per_dim"] == pytest.approx(expected.mean() + 1.0, rel=1e-5)
    assert report["metrics"]["sample_confidence"] < m["sample_confidence"]
    assert not report["blessed"] and not _pushes(blessing)
    assert report["not_blessed_reasons"][0].startswith("bits_per_dim")
    # Within the bound but worse than the blessed baseline: not pushed either.
    lenient = {"bits_per_dim": {"upper_bound": 8.0}, "no_regression": ["bits_per_dim"]}
    report, blessing = _do(tmp_path / "c", examples, worse, lenient, FLOW_ROLES, baseline=flow, cache=cache_dir)
    assert not report["blessed"] and not _pushes(blessing)
    assert "worse than the blessed baseline" in " ".join(report["not_blessed_reasons"])


def test_flow_without_a_sampler_gets_bits_per_dim_only(tmp_path, examples):
    flow = _model_artifact(tmp_path, "flow", TinyFlow(5.0), ["log_prob"])
    report, _ = _do(tmp_path / "a", examples, flow, {"bits_per_dim": {"upper_bound": 8.0}}, {"log_prob": DENSITY})
    assert set(report["metrics"]) == {"bits_per_dim"} and report["blessed"]
    with pytest.raises(ValueError, match="does not have"):
        _do(tmp_path / "b", examples, flow, {"fid": {"upper_bound": 8.0}}, {"log_prob": DENSITY})


def test_deterministic_code_is_judged_on_reconstruction_and_prior_samples(tmp_path, examples, cache_dir):
    images = RAW[EVAL].astype(np.float64) / 255.0
    nll = -(images * np.log(0.3) + (1 - images) * np.log(0.7)).sum(1).mean()
    aae = _model_artifact(tmp_path, "aae", TinyAae(0.3), ["encode", "decode", "sample"])
    thresholds = {"fid": {"upper_bound": 100.0}, "sample_confidence": {"lower_bound": 0.9}}
    report, blessing = _do(tmp_path / "a", examples, aae, thresholds, AAE_ROLES, cache=cache_dir)
    m = report["metrics"]
    assert set(m) == {"reconstruction_nll", "fid", "sample_confidence"}  # no ELBO: the code has no variance
    assert m["reconstruction_nll"] == pytest.approx(nll, rel=1e-5)
    assert report["blessed"] and _pushes(blessing)
    figures = report["figures"]
    assert set(figures) == {"prior_samples", "reconstructions"}
    np.testing.assert_allclose(figures["prior_samples"].arrays["images"][0], TEMPLATES[:8], atol=1e-6)  # an 8x8 grid
    np.testing.assert_allclose(figures["reconstructions"].arrays["images"][1], 0.3, atol=1e-6)

    report, blessing = _do(tmp_path / "b", examples, aae, {"fid": {"upper_bound": 1e-3}}, AAE_ROLES, cache=cache_dir)
    assert not report["blessed"] and not _pushes(blessing)
    assert report["not_blessed_reasons"][0].startswith("fid")


def test_component_accepts_bits_per_dim_lower_is_better():
    from tfx.types import channel_utils

    model = channel_utils.as_channel([standard_artifacts.Model()])
    data = channel_utils.as_channel([standard_artifacts.Examples()])
    component = GenerativeEvaluator(model=model, examples=data, signature_roles=FLOW_ROLES,
                                    thresholds=[Threshold("bits_per_dim", upper_bound=3.0, higher_is_better=False)])
    assert json.loads(component.exec_properties["thresholds"])["higher_is_better"] == {"bits_per_dim": False}
    with pytest.raises(ValueError, match="for the evaluator lower is better"):
        GenerativeEvaluator(model=model, examples=data, signature_roles=FLOW_ROLES,
                            thresholds=[Threshold("bits_per_dim", upper_bound=3.0)])

"""The report's Samples section, driven by the candidate SavedModel's signatures.

Each test exports a tiny ``tf.Module`` with the signature names, inputs and
outputs of one family (GAN, conditional GAN, VAE, autoencoder, DBN, plain
classifier), runs ``write_report`` on a run of that model and eval digits, and
checks the section, its PNGs and the image grids handed to the plotter.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from matplotlib import image as mpimg
from ml_metadata.proto import metadata_store_pb2

from pipelines import report
from pipelines.config import DatasetConfig, PipelineConfig
from pipelines.runner import Paths
from pipelines.runs import RunRecord, Step

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PIXELS = 64
CLASSES = 10
PER_CLASS = 6
EXAMPLES = tf.TensorSpec([None], tf.string)


def _digit(label: int, rng: np.random.Generator) -> np.ndarray:
    """A raw 8x8 image (0..255): a bright column and row picked by the label, on a dark background."""
    image = np.zeros((8, 8), np.int64)
    image[:, label % 8] = 200
    image[label // 2, :] = 160
    return np.clip(image + rng.integers(0, 30, (8, 8)) * (image > 0), 0, 255).reshape(-1)


@pytest.fixture(scope="module")
def eval_digits(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """An ExampleGen ``examples`` artifact with an eval split of labelled digits (gzip TFRecords)."""
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.repeat(np.arange(CLASSES), PER_CLASS))
    images = np.stack([_digit(int(label), rng) for label in labels])
    uri = tmp_path_factory.mktemp("examples")
    (uri / "Split-eval").mkdir()
    with tf.io.TFRecordWriter(str(uri / "Split-eval" / "data_tfrecord-00000-of-00001.gz"), "GZIP") as writer:
        for image, label in zip(images, labels):
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "image": tf.train.Feature(int64_list=tf.train.Int64List(value=image)),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
            })).SerializeToString())
    return uri, images, labels


def _pixels(examples: tf.Tensor) -> tf.Tensor:
    """The transformed image (``(n, 64)`` floats in [0, 1]) of serialized raw examples."""
    parsed = tf.io.parse_example(examples, {"image": tf.io.FixedLenFeature([PIXELS], tf.int64)})
    return tf.cast(parsed["image"], tf.float32) / 255.0


class _Gan(tf.Module):
    """``generate``: pixel 0 is the class / 10 (conditional), pixel 1 is sigmoid(z[0]); flat (n, 64) output."""

    def __init__(self, conditional: bool) -> None:
        super().__init__()
        self.conditional = conditional

    def image(self, z: tf.Tensor, label: tf.Tensor | None) -> tf.Tensor:
        first = tf.cast(label, tf.float32) / CLASSES if label is not None else tf.zeros_like(z[:, 0])
        return tf.concat([first[:, None], tf.sigmoid(z[:, :1]), tf.zeros([tf.shape(z)[0], PIXELS - 2])], axis=1)

    def signatures(self) -> dict:
        z = tf.TensorSpec([None, 4], tf.float32)
        if self.conditional:
            fn = tf.function(lambda z, label: {"image": self.image(z, label)},
                             input_signature=[z, tf.TensorSpec([None], tf.int64)])
        else:
            fn = tf.function(lambda z: {"image": self.image(z, None)}, input_signature=[z])
        return {"generate": fn, "serving_default": fn}


class _Vae(tf.Module):
    """A 64-d "VAE" whose posterior mean is the image and whose decoder clips ``z`` to [0, 1]:
    reconstructions equal the originals, and a traversal's z[0], z[1] are its first two pixels."""

    @tf.function(input_signature=[EXAMPLES])
    def encode(self, examples):
        z_mean = _pixels(examples)
        return {"z_mean": z_mean, "z_log_var": tf.zeros_like(z_mean)}

    @tf.function(input_signature=[tf.TensorSpec([None, PIXELS], tf.float32)])
    def decode(self, z):
        return {"image": tf.reshape(tf.clip_by_value(z, 0.0, 1.0), [-1, 8, 8, 1])}

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
    def sample(self, count):
        z = tf.random.stateless_uniform([count, PIXELS], seed=[1, 2])
        return {"image": self.decode(z)["image"], "z": z}

    def signatures(self) -> dict:
        return {"encode": self.encode, "decode": self.decode, "sample": self.sample, "serving_default": self.encode}


class _Autoencoder(tf.Module):
    """``score``: reconstructs every image as blank, so the error is the mean squared pixel."""

    @tf.function(input_signature=[EXAMPLES])
    def score(self, examples):
        images = _pixels(examples)
        return {"reconstruction_error": tf.reduce_mean(tf.square(images), axis=1),
                "reconstruction": tf.zeros_like(tf.reshape(images, [-1, 8, 8, 1]))}

    def signatures(self) -> dict:
        return {"score": self.score, "serving_default": self.score}


class _Classifier(tf.Module):
    """A softmax classifier on the pixels; with ``rbms``, a DBN whose first RBM has 70 hidden units."""

    def __init__(self, rbms: bool) -> None:
        super().__init__()
        rng = np.random.default_rng(1)
        self.dense_kernel = tf.Variable(rng.normal(size=(PIXELS, CLASSES)).astype(np.float32))
        if rbms:
            self.rbms = [tf.Module(), tf.Module()]
            for rbm, (visible, hidden) in zip(self.rbms, [(PIXELS, 70), (70, PIXELS)]):
                rbm.kernel = tf.Variable(rng.normal(size=(visible, hidden)).astype(np.float32))
                rbm.visible_bias = tf.Variable(np.zeros(visible, np.float32))

    @tf.function(input_signature=[EXAMPLES])
    def classify(self, examples):
        probabilities = tf.nn.softmax(_pixels(examples) @ self.dense_kernel)
        return {"probabilities": probabilities, "classes": tf.argmax(probabilities, axis=-1)}

    def signatures(self) -> dict:
        return {"classify": self.classify, "serving_default": self.classify}


def _run(tmp_path: Path, module: tf.Module, examples_uri: Path) -> tuple[Path, str]:
    """Exports ``module`` as the Trainer's model, reports a run of it; returns (report folder, page)."""
    model_uri = tmp_path / "Trainer" / "model" / "1"
    tf.saved_model.save(module, str(model_uri / "Format-Serving"), signatures=module.signatures())
    steps = [Step("TfdsExampleGen", "ran", 1.0, {"examples": [metadata_store_pb2.Artifact(uri=str(examples_uri))]}),
             Step("Trainer", "ran", 2.0, {"model": [metadata_store_pb2.Artifact(uri=str(model_uri))]})]
    config = PipelineConfig(name="gen", description="", dataset=DatasetConfig("digits"),
                            preprocessing_fn="components.transforms.image.preprocessing_fn", model="vae",
                            transform_config={"image_key": "image", "image_shape": [8, 8, 1], "max_value": 255},
                            num_classes=CLASSES)
    index = Path(report.write_report(RunRecord("gen", "run-1", 1.7e9, steps), Paths(str(tmp_path / "out")), config))
    return index.parent, index.read_text()


@pytest.fixture
def grids(monkeypatch) -> dict[str, np.ndarray]:
    """``{png name: grid}`` of every image grid the report draws."""
    drawn: dict[str, np.ndarray] = {}
    plot = report.plot_mosaic

    def recording_plot(grid, path, *args, **kwargs):
        drawn[Path(path).name] = grid
        return plot(grid, path, *args, **kwargs)

    monkeypatch.setattr(report, "plot_mosaic", recording_plot)
    return drawn


def _samples(page: str) -> str:
    match = re.search(r'<section id="samples">(.*?)</section>', page, re.DOTALL)
    assert match, "no Samples section"
    assert "could not be rendered" not in match.group(1), match.group(1)
    return match.group(1)


def _assert_png(folder: Path, name: str, page: str) -> None:
    assert f'src="{name}"' in page, name
    path = folder / name
    assert path.read_bytes()[:8] == PNG_MAGIC, path
    height, width = mpimg.imread(path).shape[:2]
    assert height > 150 and width > 150, (path, height, width)


def test_conditional_gan_draws_one_row_per_class(tmp_path, eval_digits, grids) -> None:
    folder, page = _run(tmp_path, _Gan(conditional=True), eval_digits[0])
    section = _samples(page)
    assert "<h3>Generated samples</h3>" in section
    _assert_png(folder, "generated.png", page)
    grid = grids["generated.png"]
    assert grid.shape == (CLASSES, report.SHOWN_EXAMPLES, 8, 8)
    np.testing.assert_allclose(grid[:, :, 0, 0], np.arange(CLASSES)[:, None] / CLASSES * np.ones((1, 10)),
                               atol=1e-6)  # row = requested class
    np.testing.assert_allclose(grid[:, :, 0, 1], np.broadcast_to(grid[:1, :, 0, 1], grid.shape[:2]))  # same z
    assert len(np.unique(grid[0, :, 0, 1])) == report.SHOWN_EXAMPLES  # different z per column


def test_gan_draws_a_grid_from_flat_images(tmp_path, eval_digits, grids) -> None:
    folder, page = _run(tmp_path, _Gan(conditional=False), eval_digits[0])
    _samples(page)
    _assert_png(folder, "generated.png", page)
    grid = grids["generated.png"]
    assert grid.shape == (8, 8, 8, 8)
    z = np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32)  # the report's seeded z (seed 0)
    np.testing.assert_allclose(grid[:, :, 0, 1].reshape(-1), 1 / (1 + np.exp(-z[:, 0])), rtol=1e-5)


def test_vae_samples_traversal_and_reconstructions(tmp_path, eval_digits, grids) -> None:
    uri, images, labels = eval_digits
    folder, page = _run(tmp_path, _Vae(), uri)
    section = _samples(page)
    for heading, name in (("Samples from the prior", "samples.png"), ("Latent traversal", "traversal.png"),
                          ("Reconstructions", "decoded.png")):
        assert f"<h3>{heading}</h3>" in section
        _assert_png(folder, name, page)
    assert grids["samples.png"].shape == (8, 8, 8, 8)

    traversal = grids["traversal.png"]
    steps = np.linspace(-report.TRAVERSAL_LIMIT, report.TRAVERSAL_LIMIT, report.TRAVERSAL_STEPS)
    assert traversal.shape == (len(steps), len(steps), 8, 8)
    np.testing.assert_allclose(traversal[:, :, 0, 0], np.clip(steps, 0, 1)[:, None] * np.ones((1, len(steps))))
    np.testing.assert_allclose(traversal[:, :, 0, 1], np.ones((len(steps), 1)) * np.clip(steps, 0, 1)[None, :])
    assert np.all(traversal[:, :, 0, 2:] == 0) and np.all(traversal[:, :, 1:] == 0)  # other dimensions 0

    originals, decoded = grids["decoded.png"]  # first eval example of each class, in class order
    first = [int(np.flatnonzero(labels == c)[0]) for c in range(CLASSES)]
    np.testing.assert_allclose(originals, images[first].reshape(-1, 8, 8) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(decoded, originals, rtol=1e-6)


def test_autoencoder_reconstructions_and_anomaly_scores(tmp_path, eval_digits, grids) -> None:
    uri, images, _ = eval_digits
    folder, page = _run(tmp_path, _Autoencoder(), uri)
    section = _samples(page)
    _assert_png(folder, "reconstructions.png", page)
    _assert_png(folder, "anomaly_scores.png", page)
    original, reconstructed, corrupted, _ = grids["reconstructions.png"]
    np.testing.assert_allclose(original, images[:report.SHOWN_EXAMPLES].reshape(-1, 8, 8) / 255.0, rtol=1e-6)
    assert np.all(reconstructed == 0)
    changed = np.mean(np.abs(corrupted - original) > 1e-3)
    assert 0.03 < changed < 0.2, changed  # salt and pepper on 20% of pixels, half of them already 0 or 1
    auc = float(re.search(r"ROC AUC ([0-9.]+)", section).group(1))
    assert 0.9 < auc <= 1.0, auc  # noise on dark digits raises the mean squared pixel
    assert f"{len(images)} clean" in section


def test_dbn_draws_the_first_rbm_filters(tmp_path, eval_digits, grids) -> None:
    module = _Classifier(rbms=True)
    folder, page = _run(tmp_path, module, eval_digits[0])
    section = _samples(page)
    assert "<h3>RBM filters</h3>" in section and "of 70 hidden units" in section
    _assert_png(folder, "rbm_filters.png", page)
    grid = grids["rbm_filters.png"]
    assert grid.shape == (8, 8, 8, 8)
    weights = module.rbms[0].kernel.numpy()
    for unit in (0, 9, 63):
        tile = grid.reshape(64, 8, 8)[unit].reshape(-1)
        expected = 0.5 + 0.5 * weights[:, unit] / np.abs(weights[:, unit]).max()
        np.testing.assert_allclose(tile, expected, rtol=1e-5)


def test_classifier_has_no_samples_section(tmp_path, eval_digits, grids) -> None:
    _, page = _run(tmp_path, _Classifier(rbms=False), eval_digits[0])
    assert '<section id="samples">' not in page
    assert not grids


def test_run_without_model_has_no_samples_section(tmp_path) -> None:
    record = RunRecord("gen", "run-1", 1.7e9, [Step("StatisticsGen", "ran", 1.0, {})])
    config = PipelineConfig(name="gen", description="", dataset=DatasetConfig("digits"),
                            preprocessing_fn="x.preprocessing_fn", model="vae")
    assert report.samples_section(record, config, str(tmp_path)) == ""


def test_image_spec_draws_flat_and_shaped_images() -> None:
    spec = report.ImageSpec(shape=(4, 2, 1))
    flat = np.arange(16, dtype=np.float32).reshape(2, 8)
    np.testing.assert_array_equal(spec.as_images(flat), flat.reshape(2, 4, 2))
    np.testing.assert_array_equal(spec.as_images(flat.reshape(2, 4, 2, 1)), flat.reshape(2, 4, 2))
    assert report.ImageSpec().as_images(np.zeros((3, 9))).shape == (3, 3, 3)  # no shape: square
    with pytest.raises(ValueError, match="10 values"):
        spec.as_images(np.zeros((1, 10)))


def test_mosaic_lays_tiles_out_in_rows() -> None:
    tiles = np.arange(5 * 4, dtype=np.float32).reshape(5, 2, 2)
    grid = report._grid(tiles, columns=3)
    assert grid.shape == (2, 3, 2, 2) and np.isnan(grid[1, 2]).all()
    canvas = report.mosaic(grid)
    assert canvas.shape == (5, 8)
    np.testing.assert_array_equal(canvas[3:5, 3:5], tiles[4])  # second row, second column
    assert np.isnan(canvas[2]).all() and np.isnan(canvas[:, 2]).all()  # separators


class _Translator(tf.Module):
    """Echoes the ``source`` string; its attention looks at source position ``t`` at output step ``t``."""

    @tf.function(input_signature=[EXAMPLES])
    def translate(self, examples):
        source = tf.io.parse_example(examples, {"source": tf.io.FixedLenFeature([], tf.string)})["source"]
        batch = tf.shape(examples)[0]
        attention = tf.tile(tf.eye(6, 8)[None], [batch, 1, 1])
        return {"translation": source, "attention": attention, "length": tf.fill([batch], tf.constant(6, tf.int64))}

    def signatures(self) -> dict:
        return {"translate": self.translate, "serving_default": self.translate}


def test_seq2seq_draws_attention_heatmaps(tmp_path) -> None:
    split = tmp_path / "examples" / "Split-eval"
    split.mkdir(parents=True)
    sources = [b"12 may", b"3.4.21", b"jan 9th"]
    with tf.io.TFRecordWriter(str(split / "data.gz"), options="GZIP") as writer:
        for text in sources:
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text])),
            })).SerializeToString())
    record = tf.train.Example(features=tf.train.Features(feature={
        "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"12 may"])),
        "target": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"2021-05-12"]))})).SerializeToString()
    assert report._source_text(record, label_key="target") == "12 may"

    folder, page = _run(tmp_path, _Translator(), tmp_path / "examples")
    samples = _samples(page)
    assert "Attention weights" in samples
    _assert_png(folder, "attention.png", page)

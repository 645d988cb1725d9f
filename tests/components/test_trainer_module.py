"""The generic Trainer module's own logic (components/trainer/module.py): which
hyperparameters and seed a run gets, and the weight-image figures it writes."""

from __future__ import annotations

import numpy as np
import pytest

from components.figures import read_figures, write_figures
from components.trainer.module import MAX_WEIGHT_IMAGES, hparams_for, weight_figures
from models import registry
from models.base import DataSpec, FeatureInfo


@pytest.mark.parametrize("config, seed, epochs", [
    ({"hparams": {"epochs": 2}}, 0, 2),                    # no pipeline seed: the family's default
    ({"hparams": {}, "seed": 7}, 7, 60),                   # the pipeline's seed
    ({"hparams": {"seed": 3}, "seed": 7}, 3, 60),          # ... unless the hparams set one
    ({"seed": None}, 0, 60),
])
def test_hparams_for_takes_the_overrides_and_the_pipeline_seed(config: dict, seed: int, epochs: int) -> None:
    hp = hparams_for(registry.get("vae"), config)
    assert (hp.seed, hp.epochs) == (seed, epochs)


def test_hparams_for_rejects_bad_values_with_the_family_error() -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        hparams_for(registry.get("cnn"), {"hparams": {"batch_size": 0}, "seed": 0})


def test_weight_figures_scale_each_image_and_fill_whole_rows() -> None:
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(100, 8, 8)) * np.arange(1, 101)[:, None, None]  # very different scales
    (figure,) = weight_figures({"rbm_filters": weights})
    grid = figure.arrays["images"]
    assert figure.kind == "image_grid" and grid.shape == (8, 8, 8, 8)  # the first 64 of 100
    images = grid.reshape(MAX_WEIGHT_IMAGES, 8, 8)
    assert images.min() >= 0.0 and images.max() <= 1.0
    # Each image reaches 0 or 1 (its largest absolute weight), whatever its scale; 0 stays grey.
    extremes = np.abs(images - 0.5).reshape(MAX_WEIGHT_IMAGES, -1).max(axis=1)
    np.testing.assert_allclose(extremes, 0.5, rtol=1e-6)
    np.testing.assert_allclose(images[5], 0.5 + 0.5 * weights[5] / np.abs(weights[5]).max(), rtol=1e-6)
    (small,) = weight_figures({"f": np.zeros((12, 3, 3))})  # 12 images: one full row of 8
    assert small.arrays["images"].shape == (1, 8, 3, 3) and np.all(small.arrays["images"] == 0.5)
    assert weight_figures({}) == [] and weight_figures({"none": np.zeros((0, 2, 2))}) == []


def test_dbn_filters_reach_the_report_as_a_figure(tmp_path) -> None:
    family = registry.get("dbn")
    data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)
    hp = family.hparams({"hidden_units": (16, 4)})
    model = family.build(hp, data)
    write_figures(str(tmp_path), weight_figures(family.weight_images(model, hp, data)))
    (figure,) = read_figures(str(tmp_path))
    assert (figure.name, figure.kind, figure.arrays["images"].shape) == ("rbm_filters", "image_grid", (2, 8, 8, 8))
    kernel = np.asarray(model.rbms[0].kernel)  # (pixels, hidden)
    first = figure.arrays["images"][0, 0].reshape(-1)
    np.testing.assert_allclose(first, 0.5 + 0.5 * kernel[:, 0] / np.abs(kernel[:, 0]).max(), rtol=1e-5)


def test_count_records_reads_gzip_and_plain_shards(tmp_path) -> None:
    import tensorflow as tf

    from components.trainer.data import count_records

    for name, compression, n in (("a.gz", "GZIP", 3), ("b.gz", "GZIP", 4), ("c", "", 2)):
        with tf.io.TFRecordWriter(str(tmp_path / name), compression) as writer:
            for i in range(n):
                writer.write(b"record %d" % i)
    assert count_records([str(tmp_path / "*.gz")]) == 7
    assert count_records([str(tmp_path / "*")]) == 9
    assert count_records([str(tmp_path / "*.gz"), str(tmp_path / "a.gz")]) == 7  # a file counts once


def test_epoch_progress_draws_one_line_and_clears_it(tmp_path) -> None:
    import io

    from components.trainer.progress import EpochProgress

    stream = io.StringIO()
    progress = EpochProgress(stream)
    progress.set_params({"epochs": 2})
    progress.on_epoch_end(0, {"loss": 1.5})
    progress.on_epoch_end(1, {"loss": 0.25, "val_loss": 0.5})
    progress.on_train_end()
    drawn = stream.getvalue()
    assert "epoch 1/2  loss 1.5000" in drawn and "epoch 2/2  loss 0.2500  val_loss 0.5000" in drawn
    assert "\n" not in drawn and drawn.endswith("\r")

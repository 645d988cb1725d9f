"""SuperResolutionEvaluator: PSNR/SSIM against closed forms and numpy, Do() on tiny upscaling SavedModels
picked by their role, blessed only above bicubic, no regression, thresholds checked when built."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

pytest.importorskip("tfx")
from tfx.types import channel_utils, standard_artifacts

from components.super_resolution_evaluator import executor
from components.super_resolution_evaluator.component import SuperResolutionEvaluator
from components.super_resolution_evaluator.metrics import (
    bicubic,
    photo_psnr,
    psnr,
    ssim,
    super_resolution_metrics,
)
from models.base import UPSCALE
from pipelines.config import Threshold
from tests.fixtures.evaluator_harness import eval_examples, run_evaluator, saved_model

ROLES = {"upscale": UPSCALE}
LOW, FACTOR = (8, 8, 3), 2
HIGH = (16, 16, 3)
RNG = np.random.default_rng(0)
# Blocky truths (each low-resolution pixel repeated 2x2, plus a little noise): nearest-neighbour
# upsampling is close to them, bicubic blurs their edges.
LOW_RES = RNG.integers(0, 256, (12, *LOW)).astype(np.uint8)
HIGH_RES = np.clip(np.repeat(np.repeat(LOW_RES.astype(np.int64), 2, 1), 2, 2) + RNG.integers(-3, 4, (12, *HIGH)),
                   0, 255).astype(np.uint8)


def test_psnr_matches_numpy_and_ssim_its_closed_form():
    truth = RNG.random((3, 16, 16, 3)).astype(np.float32)
    noisy = np.clip(truth + RNG.normal(scale=0.05, size=truth.shape), 0, 1).astype(np.float32)
    mse = ((noisy.astype(np.float64) - truth) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(psnr(noisy, truth), 10 * np.log10(1.0 / mse), rtol=1e-4)
    # the photograph's PSNR: its tiles' pixels together, not the mean of the tiles' PSNRs
    assert photo_psnr(noisy, truth) == pytest.approx(10 * np.log10(1.0 / mse.mean()), rel=1e-4)
    flat_tile = np.stack([np.full((16, 16, 3), 0.5), np.full((16, 16, 3), 0.5)]).astype(np.float32)
    off = flat_tile + np.array([0.001, 0.1], np.float32)[:, None, None, None]
    assert photo_psnr(off, flat_tile) == pytest.approx(10 * np.log10(1.0 / ((0.001**2 + 0.1**2) / 2)), rel=1e-3)
    assert psnr(off, flat_tile).mean() > photo_psnr(off, flat_tile) + 10  # a flat tile's 60 dB weighs in the mean
    np.testing.assert_allclose(ssim(truth, truth), 1.0, atol=1e-6)
    # constant images: no variance, so SSIM is the luminance term (2ab + C1) / (a^2 + b^2 + C1), C1 = 0.01^2
    a, b = 0.3, 0.6
    flat = lambda v: np.full((1, 16, 16, 3), v, np.float32)  # noqa: E731
    np.testing.assert_allclose(ssim(flat(a), flat(b)), (2 * a * b + 1e-4) / (a * a + b * b + 1e-4), rtol=1e-4)
    assert ssim(noisy, truth).mean() < 1.0
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(truth[:, :8, :8], truth[:, :8, :8])
    with pytest.raises(ValueError, match="must both be"):
        psnr(truth[:2], truth)


def test_bicubic_and_the_gain_over_it():
    low = LOW_RES / 255.0
    want = np.clip(tf.image.resize(low.astype(np.float32), (16, 16), method="bicubic").numpy(), 0, 1)
    np.testing.assert_allclose(bicubic(low, 2), want, atol=1e-6)
    truth = HIGH_RES / 255.0
    nearest = np.repeat(np.repeat(low, 2, 1), 2, 2)
    m = super_resolution_metrics(nearest, bicubic(low, 2), truth)
    assert m["psnr_gain"] == pytest.approx(m["psnr"] - m["bicubic_psnr"]) and m["psnr_gain"] > 3
    assert m["ssim_gain"] == pytest.approx(m["ssim"] - m["bicubic_ssim"]) and m["ssim"] > m["bicubic_ssim"]


class Upscaler(tf.Module):
    """``upscale`` repeats each pixel (nearest neighbour, which suits the blocky truths), ``upscale_bicubic``
    is bicubic itself; both take float images of any size, as SRGAN's signature does."""

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)])
    def upscale(self, image):
        return {"image": tf.repeat(tf.repeat(image, FACTOR, axis=1), FACTOR, axis=2)}

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)])
    def upscale_bicubic(self, image):
        size = tf.shape(image)[1:3] * FACTOR
        return {"image": tf.image.resize(image, size, method="bicubic")}


def _example(low: np.ndarray, high: np.ndarray) -> bytes:
    feature = {"low_res": tf.train.Feature(int64_list=tf.train.Int64List(value=low.ravel().tolist())),
               "high_res": tf.train.Feature(int64_list=tf.train.Int64List(value=high.ravel().tolist()))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> standard_artifacts.Examples:
    return eval_examples(tmp_path_factory.mktemp("examples"), (_example(lo, hi) for lo, hi in zip(LOW_RES, HIGH_RES)))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> standard_artifacts.Model:
    return saved_model(tmp_path_factory.mktemp("model"), Upscaler(), ["upscale", "upscale_bicubic"])


def _do(tmp_path, examples, model, thresholds, baseline=None, roles=ROLES):
    run = run_evaluator(executor.Executor, tmp_path, examples, model, thresholds, roles, baseline,
                        high_res_shape=json.dumps(HIGH), low_res_shape=json.dumps(LOW), max_value=255.0)
    return run.report, run.figures, run.blessing


ABOVE_BICUBIC = {"psnr_gain": {"lower_bound": 0.01}}


def test_a_model_above_bicubic_is_blessed_with_its_figures(tmp_path, examples, model):
    report, figures, blessing = _do(tmp_path, examples, model, ABOVE_BICUBIC)
    low, high = LOW_RES / 255.0, HIGH_RES / 255.0
    want = super_resolution_metrics(np.repeat(np.repeat(low, 2, 1), 2, 2), bicubic(low, 2), high)
    for name, value in want.items():
        assert report["metrics"][name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
    assert report["metrics"]["psnr_gain"] > 0
    assert report["blessed"] and blessing.get_int_custom_property("blessed") == 1

    grid = figures["super_resolution_examples"]
    assert grid.kind == "image_grid" and grid.labels["columns"] == ["low-res", "bicubic", "model", "truth"]
    images = grid.arrays["images"]
    assert images.shape == (4, 4, *HIGH) and 0.0 <= images.min() and images.max() <= 1.0
    np.testing.assert_allclose(images[0, 3], high[0], atol=1e-6)    # truth column
    np.testing.assert_allclose(images[0, 2], images[0, 0], atol=1e-6)  # this model is the pixel repetition
    assert figures["super_resolution_metrics"].kind == "table"


def test_bicubic_itself_is_not_blessed_above_bicubic(tmp_path, examples, model):
    report, _, blessing = _do(tmp_path, examples, model, ABOVE_BICUBIC, roles={"upscale_bicubic": UPSCALE})
    assert report["metrics"]["psnr_gain"] == pytest.approx(0.0, abs=1e-4)
    assert report["metrics"]["psnr"] == pytest.approx(report["metrics"]["bicubic_psnr"], abs=1e-4)
    assert not report["blessed"] and blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_string_custom_property("not_blessed_reasons").startswith("psnr_gain ")


def test_no_regression_against_the_blessed_baseline(tmp_path, examples, model):
    module = Upscaler()
    bicubic_model = standard_artifacts.Model()
    bicubic_model.uri = str(tmp_path / "bicubic_model")
    tf.saved_model.save(module, os.path.join(bicubic_model.uri, "Format-Serving"),
                        signatures={"upscale": module.upscale_bicubic})
    thresholds = {"no_regression": ["psnr"]}
    report, _, blessing = _do(tmp_path / "a", examples, bicubic_model, thresholds, baseline=model)
    assert report["metrics"]["psnr"] < report["baseline_metrics"]["psnr"]
    assert not report["blessed"] and "worse than the blessed baseline" in \
        blessing.get_string_custom_property("not_blessed_reasons")
    report, _, blessing = _do(tmp_path / "b", examples, model, thresholds, baseline=bicubic_model)
    assert report["blessed"] and blessing.get_int_custom_property("blessed") == 1


def test_a_missing_upscale_role_or_a_wrong_size_is_a_clear_error(tmp_path, examples, model):
    with pytest.raises(ValueError, match="no 'upscale' signature"):
        _do(tmp_path / "a", examples, model, {}, roles={"upscale": "classify"})
    served = executor.ServedModel(os.path.join(model.uri, "Format-Serving"), ROLES)
    with pytest.raises(ValueError, match="the true patches are"):
        executor.Executor.upscale(served, LOW_RES[:2] / 255.0, (32, 32, 3))
    with pytest.raises(ValueError, match="192 pixels"):
        executor.image_feature([_example(LOW_RES[0][:4], HIGH_RES[0])], "low_res", LOW, 255.0)


def test_component_checks_thresholds_and_shapes_when_built():
    model = channel_utils.as_channel([standard_artifacts.Model()])
    data = channel_utils.as_channel([standard_artifacts.Examples()])
    kwargs = {"model": model, "examples": data, "signature_roles": ROLES, "high_res_shape": HIGH,
              "low_res_shape": LOW}
    component = SuperResolutionEvaluator(thresholds=[Threshold("psnr_gain", lower_bound=0.01)], **kwargs)
    assert json.loads(component.exec_properties["thresholds"])["psnr_gain"] == {"lower_bound": 0.01}
    assert json.loads(component.exec_properties["high_res_shape"]) == list(HIGH)
    with pytest.raises(ValueError, match="unknown metric 'fid'"):
        SuperResolutionEvaluator(thresholds={"fid": {"upper_bound": 1.0}}, **kwargs)
    with pytest.raises(ValueError, match="higher is better"):
        SuperResolutionEvaluator(thresholds=[Threshold("psnr", lower_bound=1.0, higher_is_better=False)], **kwargs)
    with pytest.raises(ValueError, match="integer multiple"):
        SuperResolutionEvaluator(thresholds=[], **{**kwargs, "low_res_shape": (8, 5, 3)})

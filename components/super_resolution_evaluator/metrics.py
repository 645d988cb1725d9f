"""Super-resolution metrics on image batches in [0, 1]: PSNR and SSIM (``tf.image.psnr``/``tf.image.ssim``,
peak value 1), the bicubic baseline and the gains over it.

The held-out examples are the tiles of one photograph, so ``psnr`` is the PSNR of the photograph: of
its tiles taken together as one image (``10 log10(1 / MSE)`` over all their pixels, :func:`photo_psnr`).
The mean of per-tile PSNRs (``patch_psnr``) is reported beside it: it weighs every tile alike, so the
nearly flat tiles of an out-of-focus background (PSNR 50 dB and more, where any added detail costs
many dB) dominate it. ``ssim`` is the mean SSIM of the tiles (SSIM is itself a mean over local windows).

>>> truth = np.full((2, 16, 16, 3), 0.5, np.float32)
>>> m = super_resolution_metrics(truth + 0.1, truth + 0.01, truth)
>>> round(m["psnr"], 4), round(m["bicubic_psnr"], 4), round(m["psnr_gain"], 4)
(20.0, 40.0, -20.0)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def _check(prediction: np.ndarray, truth: np.ndarray) -> tuple[tf.Tensor, tf.Tensor]:
    prediction, truth = np.asarray(prediction, np.float32), np.asarray(truth, np.float32)
    if prediction.shape != truth.shape or prediction.ndim != 4 or not truth.size:
        raise ValueError(f"images {prediction.shape} and truths {truth.shape} must both be "
                         "(examples > 0, height, width, channels)")
    return tf.constant(prediction), tf.constant(truth)


def psnr(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-image peak signal-to-noise ratio (dB) of images in [0, 1]."""
    prediction, truth = _check(prediction, truth)
    return tf.image.psnr(prediction, truth, max_val=1.0).numpy().astype(np.float64)


def photo_psnr(prediction: np.ndarray, truth: np.ndarray) -> float:
    """PSNR (dB) of all the images together as one image: ``10 log10(1 / MSE)`` over every pixel."""
    prediction, truth = _check(prediction, truth)
    whole = (1, -1, int(truth.shape[2]), int(truth.shape[3]))
    return float(tf.image.psnr(tf.reshape(prediction, whole), tf.reshape(truth, whole), max_val=1.0)[0])


def ssim(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-image structural similarity (``tf.image.ssim``'s defaults: 11x11 Gaussian window, sigma 1.5)
    of images in [0, 1] at least 11 pixels on a side."""
    prediction, truth = _check(prediction, truth)
    if min(truth.shape[1], truth.shape[2]) < 11:
        raise ValueError(f"SSIM needs images of at least 11x11 pixels; got {tuple(truth.shape[1:3])}")
    return tf.image.ssim(prediction, truth, max_val=1.0).numpy().astype(np.float64)


def bicubic(low_res: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic upsampling (``tf.image.resize``) of ``low_res`` by ``factor``, clipped to [0, 1]."""
    low = tf.constant(np.asarray(low_res, np.float32))
    size = (int(low.shape[1]) * factor, int(low.shape[2]) * factor)
    return np.clip(tf.image.resize(low, size, method="bicubic").numpy(), 0.0, 1.0)


def super_resolution_metrics(upscaled: np.ndarray, baseline: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """``psnr`` (of the images together, :func:`photo_psnr`), ``ssim`` (mean) and ``patch_psnr`` (mean
    per image) of ``upscaled`` and (``bicubic_``) of ``baseline`` against ``truth``, and
    ``psnr_gain``/``ssim_gain``: the model's over the baseline's."""
    metrics = {}
    for prefix, images in (("", upscaled), ("bicubic_", baseline)):
        metrics[f"{prefix}psnr"] = photo_psnr(images, truth)
        metrics[f"{prefix}ssim"] = float(np.mean(ssim(images, truth)))
        metrics[f"{prefix}patch_psnr"] = float(np.mean(psnr(images, truth)))
    metrics["psnr_gain"] = metrics["psnr"] - metrics["bicubic_psnr"]
    metrics["ssim_gain"] = metrics["ssim"] - metrics["bicubic_ssim"]
    return metrics

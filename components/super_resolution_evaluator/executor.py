"""Executor of the SuperResolutionEvaluator: upscales the eval split's low-resolution patches through the
served ``upscale`` signature (the first the family declares in that role; input ``image`` in [0, 1] of any
size, output ``image`` at the factor) and compares them with the true high-resolution patches: ``psnr``,
``ssim``, bicubic's (``bicubic_psnr``, ``bicubic_ssim``, upsampling of the same input) and the gains over
it (``psnr_gain``, ``ssim_gain``); ``psnr`` is the held-out photograph's, its tiles together
(:mod:`~components.super_resolution_evaluator.metrics`), and the mean per-tile PSNR is reported beside it.

For the report: a grid of held-out patches (low resolution, bicubic, the model, truth) and a table of
the metrics. Thresholds, blessing and the verdict are :mod:`components.evaluator.blessing`'s, the flow
:mod:`components.evaluator.base`'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from components.evaluator.base import EvaluatorExecutor, exec_property
from components.evaluator.blessing import HIGHER
from components.evaluator.served import ServedModel
from components.figures import Figure
from components.super_resolution_evaluator.metrics import bicubic, super_resolution_metrics
from models.base import UPSCALE

# The metrics thresholds may name: all higher is better.
METRICS = {name: HIGHER for name in ("psnr", "ssim", "bicubic_psnr", "bicubic_ssim", "psnr_gain", "ssim_gain",
                                     "patch_psnr", "bicubic_patch_psnr")}
UPSCALE_INPUT = UPSCALE_OUTPUT = "image"
SHOWN_PATCHES = 4  # rows of the report's grid


def check_shapes(high_res_shape: Any, low_res_shape: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The two ``(height, width, channels)`` shapes, checked: same channels, the high-resolution sides
    the same integer multiple (>= 2) of the low-resolution ones.

    >>> check_shapes([32, 32, 3], [16, 16, 3])
    ((32, 32, 3), (16, 16, 3))
    >>> check_shapes([32, 32, 3], [16, 8, 3])
    Traceback (most recent call last):
    ValueError: high-resolution shape (32, 32, 3) is not an integer multiple (>= 2) of the low-resolution (16, 8, 3)
    """
    high = tuple(int(d) for d in (json.loads(high_res_shape) if isinstance(high_res_shape, str) else high_res_shape))
    low = tuple(int(d) for d in (json.loads(low_res_shape) if isinstance(low_res_shape, str) else low_res_shape))
    if len(high) != 3 or len(low) != 3 or min(high + low) < 1:
        raise ValueError(f"image shapes must be (height, width, channels); got {high} and {low}")
    factor = high[0] // low[0]
    if high[2] != low[2] or factor < 2 or high[:2] != (low[0] * factor, low[1] * factor):
        raise ValueError(f"high-resolution shape {high} is not an integer multiple (>= 2) of the "
                         f"low-resolution {low}")
    return high, low


def image_feature(records: Sequence[bytes], key: str, shape: Sequence[int], scale: float) -> np.ndarray:
    """The integer image feature ``key`` of serialized tf.Examples as float32 ``(examples, *shape)`` / ``scale``."""
    size = int(np.prod(shape))
    rows = []
    for record in records:
        feature = tf.train.Example.FromString(record).features.feature[key]
        values = feature.int64_list.value or feature.float_list.value
        if len(values) != size:
            raise ValueError(f"feature '{key}' must hold {size} pixels {tuple(shape)} in every eval example; "
                             f"found {len(values)}")
        rows.append(values)
    if not rows:
        raise ValueError("the eval split has no examples")
    return (np.asarray(rows, np.float32) / scale).reshape((-1, *shape))


class Executor(EvaluatorExecutor):
    METRICS = METRICS

    def parameters(self, exec_properties: Mapping[str, Any]) -> dict[str, Any]:
        high, low = check_shapes(exec_property(exec_properties, "high_res_shape", None),
                                 exec_property(exec_properties, "low_res_shape", None))
        return {"high_res_key": exec_property(exec_properties, "high_res_key", "high_res"),
                "low_res_key": exec_property(exec_properties, "low_res_key", "low_res"),
                "high_res_shape": high, "low_res_shape": low,
                "max_value": float(exec_property(exec_properties, "max_value", 255.0))}

    def patches(self, examples: Sequence[bytes], params: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """``(low_res, high_res)`` of the eval examples, in [0, 1]."""
        return (image_feature(examples, params["low_res_key"], params["low_res_shape"], params["max_value"]),
                image_feature(examples, params["high_res_key"], params["high_res_shape"], params["max_value"]))

    @staticmethod
    def upscale(model: ServedModel, low_res: np.ndarray, want: tuple[int, ...]) -> np.ndarray:
        """The served ``upscale`` of ``low_res``, checked to be of the true patches' shape ``want``."""
        name = model.first(UPSCALE)
        if name is None:
            raise ValueError(f"the model's signature roles {model.roles} include no '{UPSCALE}' signature")
        out = model.call(name, {UPSCALE_INPUT: low_res})
        if UPSCALE_OUTPUT not in out:
            raise ValueError(f"signature {name!r} outputs {sorted(out)}, not '{UPSCALE_OUTPUT}'")
        images = np.asarray(out[UPSCALE_OUTPUT], np.float32)
        if images.shape[1:] != tuple(want):
            raise ValueError(f"signature {name!r} upscaled {low_res.shape[1:]} to {images.shape[1:]}; "
                             f"the true patches are {tuple(want)}")
        return np.clip(images, 0.0, 1.0)

    def evaluate(self, model: ServedModel, examples: Sequence[bytes], params: Mapping[str, Any]) -> dict[str, float]:
        low, high = self.patches(examples, params)
        factor = high.shape[1] // low.shape[1]
        return super_resolution_metrics(self.upscale(model, low, high.shape[1:]), bicubic(low, factor), high)

    def figures(self, model: ServedModel, examples: Sequence[bytes], params: Mapping[str, Any]) -> list[Figure]:
        low, high = self.patches(examples, params)
        factor = high.shape[1] // low.shape[1]
        shown = np.linspace(0, len(high) - 1, min(SHOWN_PATCHES, len(high))).astype(int)
        low, high = low[shown], high[shown]
        upscaled, baseline = self.upscale(model, low, high.shape[1:]), bicubic(low, factor)
        nearest = np.repeat(np.repeat(low, factor, axis=1), factor, axis=2)  # the input, at the output's size
        grid = np.stack([nearest, baseline, upscaled, high], axis=1)
        metrics = super_resolution_metrics(upscaled, baseline, high)
        rows = [[name, f"{metrics[name]:.4f}", f"{metrics['bicubic_' + name]:.4f}",
                 f"{metrics[name] - metrics['bicubic_' + name]:+.4f}"] for name in ("psnr", "ssim", "patch_psnr")]
        return [
            Figure("super_resolution_examples", "image_grid", "Held-out patches: low resolution, bicubic, model, "
                   "truth",
                   f"Patches of the held-out photograph (one per row): the low-resolution input (shown at x{factor} "
                   f"by pixel repetition), bicubic upsampling, the {model.first(UPSCALE)} signature's output and "
                   "the true high-resolution patch.",
                   arrays={"images": grid}, labels={"rows": [f"patch {i}" for i in shown],
                                                    "columns": ["low-res", "bicubic", "model", "truth"]}),
            Figure("super_resolution_metrics", "table", "PSNR and SSIM against bicubic (shown patches)",
                   f"On the {len(shown)} patches shown: the model's PSNR (dB) and SSIM, bicubic's, and the gain.",
                   labels={"header": ["metric", "model", "bicubic", "gain"], "rows": rows}),
        ]

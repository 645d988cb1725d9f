"""SuperResolutionEvaluator: blesses a super-resolution model on the PSNR and SSIM of what it serves.

TFMA thresholds scalar predictions against a label; an upscaled image is
judged against the true high-resolution image and against bicubic
upsampling of the same low-resolution input. This component upscales the
eval split's low-resolution patches through the served ``upscale`` signature
(the first the family declares in that role), computes PSNR and SSIM beside
bicubic's, checks the pipeline's thresholds (e.g. ``psnr_gain`` above 0: only
a model better than bicubic is blessed) and no regression against the blessed
baseline, and writes a ``ModelBlessing`` like TFX's Evaluator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from tfx import types
from tfx.dsl.components.base import executor_spec
from tfx.types.component_spec import ExecutionParameter

from components.evaluator.base import EvaluatorComponent, EvaluatorSpec
from components.super_resolution_evaluator import executor


class SuperResolutionEvaluatorSpec(EvaluatorSpec):
    PARAMETERS: ClassVar[dict[str, ExecutionParameter]] = {
        **EvaluatorSpec.PARAMETERS,
        "high_res_key": ExecutionParameter(type=str, optional=True),
        "low_res_key": ExecutionParameter(type=str, optional=True),
        "high_res_shape": ExecutionParameter(type=str),
        "low_res_shape": ExecutionParameter(type=str),
        "max_value": ExecutionParameter(type=float, optional=True),
    }


class SuperResolutionEvaluator(EvaluatorComponent):
    """Args: see :class:`~components.evaluator.base.EvaluatorComponent` (thresholds on ``psnr``,
    ``ssim``, ``psnr_gain``, ``ssim_gain`` and bicubic's); ``high_res_key``/``low_res_key``: the raw
    patches; ``high_res_shape``/``low_res_shape``: their ``(height, width, channels)``;
    ``max_value``: the raw pixel maximum."""

    SPEC_CLASS = SuperResolutionEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, examples: types.BaseChannel, *, thresholds: Any,
                 signature_roles: Mapping[str, str], high_res_shape: Sequence[int], low_res_shape: Sequence[int],
                 baseline_model: types.BaseChannel | None = None, high_res_key: str = "high_res",
                 low_res_key: str = "low_res", max_value: float = 255.0, example_split: str = "eval") -> None:
        high, low = executor.check_shapes(high_res_shape, low_res_shape)  # fails when the pipeline is built
        super().__init__(model, examples, thresholds=thresholds, signature_roles=signature_roles,
                         baseline_model=baseline_model, example_split=example_split, high_res_key=high_res_key,
                         low_res_key=low_res_key, high_res_shape=list(high), low_res_shape=list(low),
                         max_value=float(max_value))

"""ForecastEvaluator: blesses a forecaster on the held-out error of what it serves.

TFMA slices and thresholds scalar predictions against a label; a forecast is a
vector over the horizon, judged against persistence. This component forecasts
the eval split through the served ``forecast`` signature (the first the family
declares in that role: the Transform graph inside, so it judges exactly what
TF Serving runs), computes NRMSE and MAE over the horizon and per step beside
persistence's, checks the pipeline's thresholds and no regression against the
blessed baseline, and writes a ``ModelBlessing`` like TFX's Evaluator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tfx import types
from tfx.dsl.components.base import executor_spec
from tfx.types.component_spec import ExecutionParameter

from components.evaluator.base import EvaluatorComponent, EvaluatorSpec
from components.forecast_evaluator import executor


class ForecastEvaluatorSpec(EvaluatorSpec):
    PARAMETERS: ClassVar[dict[str, ExecutionParameter]] = {
        **EvaluatorSpec.PARAMETERS,
        "past_key": ExecutionParameter(type=str, optional=True),
        "future_key": ExecutionParameter(type=str, optional=True),
    }


class ForecastEvaluator(EvaluatorComponent):
    """Args: see :class:`~components.evaluator.base.EvaluatorComponent` (thresholds on
    ``nrmse``, ``mae``, ``relative_nrmse``); ``past_key``/``future_key``: the raw
    window and its true continuation."""

    SPEC_CLASS = ForecastEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, examples: types.BaseChannel, *, thresholds: Any,
                 signature_roles: Mapping[str, str], baseline_model: types.BaseChannel | None = None,
                 past_key: str = "past", future_key: str = "future", example_split: str = "eval") -> None:
        super().__init__(model, examples, thresholds=thresholds, signature_roles=signature_roles,
                         baseline_model=baseline_model, example_split=example_split, past_key=past_key,
                         future_key=future_key)

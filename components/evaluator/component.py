"""The stock TFX Evaluator, plus its verdict recorded in ML Metadata.

After TFMA runs, the overall-slice metrics of the candidate model become
float custom properties ``metric:<name>`` of the ``evaluation`` artifact, and
the reasons a model was not blessed become the ``blessing`` artifact's
``not_blessed_reasons`` string, so ``zoo runs`` and the CLI can say what
happened from ML Metadata alone.
"""

from __future__ import annotations

from typing import Any

import tensorflow_model_analysis as tfma
from tfx.components.evaluator import component as stock_component
from tfx.components.evaluator import executor as stock_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs

from components.evaluator.verdict import record_verdict


def overall_metrics(output_uri: str) -> dict[str, float]:
    """The candidate model's metrics on the overall slice."""
    for metrics in tfma.load_metrics(output_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        values = {}
        for item in metrics.metric_keys_and_values:
            key = item.key
            if key.is_diff or key.model_name not in ("", "candidate"):
                continue
            if item.value.HasField("double_value"):
                values[key.name] = item.value.double_value.value
        return values
    return {}


def _bound(threshold: Any) -> str:
    value = threshold.value_threshold
    if value.HasField("lower_bound"):
        return f"below the lower bound {value.lower_bound.value:g}"
    return f"above the upper bound {value.upper_bound.value:g}"


def not_blessed_reasons(output_uri: str) -> list[str]:
    """One line per failed threshold, e.g. ``sparse_categorical_accuracy 0.85 below ...``."""
    result = tfma.load_validation_result(output_uri)
    reasons = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            value = failure.metric_value.double_value.value
            if failure.metric_key.is_diff:
                reasons.append(f"{failure.metric_key.name} changed by {value:+.4f}: "
                               "worse than the blessed baseline")
            else:
                reasons.append(f"{failure.metric_key.name} {value:.4f} {_bound(failure.metric_threshold)}")
    if result.missing_thresholds and not reasons:
        reasons.append("a threshold's metric was not computed (check the EvalConfig)")
    return reasons


class Executor(stock_executor.Executor):
    def Do(self, input_dict: dict[str, Any], output_dict: dict[str, Any], exec_properties: dict[str, Any]) -> None:
        super().Do(input_dict, output_dict, exec_properties)
        evaluation = artifact_utils.get_single_instance(output_dict[standard_component_specs.EVALUATION_KEY])
        blessings = output_dict.get(standard_component_specs.BLESSING_KEY)
        if blessings:
            blessing, reasons = artifact_utils.get_single_instance(blessings), not_blessed_reasons(evaluation.uri)
        else:
            blessing, reasons = None, []
        record_verdict(evaluation, blessing, overall_metrics(evaluation.uri), reasons)


class RecordingEvaluator(stock_component.Evaluator):
    """``Evaluator`` whose verdict and metrics land in ML Metadata."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

"""The stock TFX Evaluator (TFMA), plus its verdict in ML Metadata and its figures.

TFMA evaluates, validates and writes the blessing, as in any TFX pipeline;
then this executor records the verdict with :mod:`components.evaluator.blessing`
(the overall-slice metrics of the candidate model as ``metric:<name>``
properties of the ``evaluation`` artifact, the failed thresholds as the
``blessing``'s ``not_blessed_reasons``), writes ``metrics.json`` like every
evaluator of the project, and writes the report's figures
(``components/figures.py``) read back from TFMA's own output, nothing
recomputed:

* ``confusion_matrix``: TFMA's ``MultiClassConfusionMatrixPlot`` of the
  candidate on the overall slice (the EvalConfig must ask for it, as
  ``pipelines/factory.py`` does);
* ``metrics_per_slice``: a table of the candidate's metrics on every slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_model_analysis as tfma
from absl import logging
from tfx.components.evaluator import component as stock_component
from tfx.components.evaluator import executor as stock_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs

from components.evaluator import blessing
from components.evaluator.blessing import HIGHER, LOWER
from components.figures import Figure, write_figures

# The directions of the TFMA metrics the project thresholds. TFMA computes many
# more: thresholds may name any (``parse_thresholds(..., any_metric=True)``), but
# one of these with the wrong direction fails when the pipeline is built.
METRICS = {
    "sparse_categorical_accuracy": HIGHER,
    "categorical_accuracy": HIGHER,
    "binary_accuracy": HIGHER,
    "accuracy": HIGHER,
    "auc": HIGHER,
    "precision": HIGHER,
    "recall": HIGHER,
    "sparse_categorical_crossentropy": LOWER,
    "categorical_crossentropy": LOWER,
    "binary_crossentropy": LOWER,
    "mean_squared_error": LOWER,
    "mean_absolute_error": LOWER,
}
CONFUSION_MATRIX_PLOT = "MultiClassConfusionMatrixPlot"
CANDIDATE_NAMES = ("", "candidate")
BASELINE_NAME = "baseline"


def _values(metrics: Any, model_names: tuple[str, ...]) -> dict[str, float]:
    return {item.key.name: item.value.double_value.value for item in metrics.metric_keys_and_values
            if not item.key.is_diff and item.key.model_name in model_names and item.value.HasField("double_value")}


def overall_metrics(per_slice: Sequence[Any], model_names: tuple[str, ...] = CANDIDATE_NAMES) -> dict[str, float]:
    """The metrics on the overall slice of the candidate (or of ``model_names``), from
    ``tfma.load_metrics``' output."""
    for metrics in per_slice:
        if not metrics.slice_key.single_slice_keys:
            return _values(metrics, model_names)
    return {}


def _slice_name(slice_key: Any) -> str:
    keys = []
    for key in slice_key.single_slice_keys:
        value = getattr(key, key.WhichOneof("kind"))
        keys.append(f"{key.column} = {value.decode() if isinstance(value, bytes) else value}")
    return ", ".join(keys) or "overall"


def _slice_order(slice_key: Any) -> tuple:
    return (len(slice_key.single_slice_keys),
            tuple((k.column, getattr(k, k.WhichOneof("kind"))) for k in slice_key.single_slice_keys))


def slice_table(per_slice: Sequence[Any]) -> tuple[list[str], list[list[str]]]:
    """(header, rows): the candidate's double-valued metrics on every slice, overall first."""
    per_slice = sorted(((m.slice_key, _values(m, CANDIDATE_NAMES)) for m in per_slice),
                       key=lambda s: _slice_order(s[0]))
    names = sorted({name for _, values in per_slice for name in values})
    rows = [[_slice_name(key)] + [f"{values[n]:.4g}" if n in values else "" for n in names]
            for key, values in per_slice]
    return ["slice", *names], rows


def confusion_matrix(output_uri: str) -> np.ndarray | None:
    """``[true, predicted]`` counts of TFMA's ``MultiClassConfusionMatrixPlot`` of the
    candidate on the overall slice; ``None`` when TFMA wrote none."""
    for plots in tfma.load_plots(output_uri):
        if plots.slice_key.single_slice_keys:
            continue
        for item in plots.plot_keys_and_values:
            matrices = item.value.multi_class_confusion_matrix_at_thresholds.matrices
            if item.key.model_name not in CANDIDATE_NAMES or not matrices:
                continue
            entries = [(e.actual_class_id, e.predicted_class_id, e.num_weighted_examples)
                       for e in matrices[0].entries]
            size = 1 + max((max(a, p) for a, p, _ in entries), default=-1)
            matrix = np.zeros((size, size), np.int64)
            for actual, predicted, count in entries:
                if actual >= 0 and predicted >= 0:  # -1: no prediction above the threshold
                    matrix[actual, predicted] += int(round(count))
            return matrix
    return None


def figures(output_uri: str, per_slice: Sequence[Any]) -> list[Figure]:
    """The report's figures of a TFMA output folder (``per_slice``: its loaded metrics)."""
    out = []
    matrix = confusion_matrix(output_uri)
    if matrix is not None and matrix.size:
        accuracy = np.trace(matrix) / max(matrix.sum(), 1)
        out.append(Figure("confusion_matrix", "confusion_matrix", "Confusion matrix (eval split)",
                          f"TFMA's confusion matrix of the candidate model on {matrix.sum()} eval examples: "
                          f"accuracy {accuracy:.4f}.",
                          {"counts": matrix}, {"classes": [str(c) for c in range(len(matrix))]}))
    header, rows = slice_table(per_slice)
    if rows and len(header) > 1:
        out.append(Figure("metrics_per_slice", "table", "Metrics per slice",
                          "TFMA's metrics of the candidate model on every slice of the eval split.",
                          labels={"header": header, "rows": rows}))
    return out


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
        candidate = artifact_utils.get_single_instance(input_dict[standard_component_specs.MODEL_KEY])
        baselines = input_dict.get(standard_component_specs.BASELINE_MODEL_KEY) or []
        if baselines and blessing.is_candidate(baselines[0], candidate):
            # Its own baseline (the Trainer was cached): TFMA runs once, on the candidate alone.
            input_dict = {k: v for k, v in input_dict.items() if k != standard_component_specs.BASELINE_MODEL_KEY}
        # TFMA updates each Keras metric eagerly, once per slice and model, through tf_keras'
        # ``update_state`` wrapper, which runs AutoGraph's source conversion on every call (digits: 22
        # conversions, a third of the Evaluator's CPU time). Eager code runs the same without it
        # (tf.functions keep their own AutoGraph setting), so it is off for this in-process Beam pipeline.
        tf.autograph.experimental.do_not_convert(super().Do)(input_dict, output_dict, exec_properties)
        evaluation = artifact_utils.get_single_instance(output_dict[standard_component_specs.EVALUATION_KEY])
        blessings = output_dict.get(standard_component_specs.BLESSING_KEY)
        verdict, blessed, reasons = None, None, []
        if blessings:
            verdict = artifact_utils.get_single_instance(blessings)
            if verdict.has_custom_property("blessed"):  # TFMA validated (thresholds were configured)
                blessed = bool(verdict.get_int_custom_property("blessed"))
                reasons = not_blessed_reasons(evaluation.uri)
        per_slice = list(tfma.load_metrics(evaluation.uri))  # read once
        metrics = overall_metrics(per_slice)
        try:
            write_figures(evaluation.uri, figures(evaluation.uri, per_slice))
        except Exception:  # the verdict stands without its figures
            logging.exception("the report's figures could not be read from TFMA's output")
        blessing.write_metrics(evaluation.uri, metrics, blessed=blessed,
                               baseline=overall_metrics(per_slice, (BASELINE_NAME,)) or None, reasons=reasons)
        blessing.record_verdict(evaluation, verdict, metrics, reasons)


class RecordingEvaluator(stock_component.Evaluator):
    """``Evaluator`` whose verdict and metrics land in ML Metadata and whose figures land beside TFMA's output."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

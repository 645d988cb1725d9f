"""Executor of the ForecastEvaluator: forecasts the eval split through the served
``forecast`` signature (the first the family declares in that role) and compares
the forecasts with the raw futures: ``nrmse``, ``mae`` and ``relative_nrmse``
(over persistence's NRMSE) over the horizon, and the NRMSE of every step.

For the report: a table of the errors per step (model and persistence) and
one of a few held-out windows, forecast against truth step by step.
Thresholds, blessing and the verdict are :mod:`components.evaluator.blessing`'s,
the flow :mod:`components.evaluator.base`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from components.evaluator.base import EvaluatorExecutor, exec_property
from components.evaluator.blessing import LOWER
from components.evaluator.served import ServedModel
from components.figures import Figure
from components.forecast_evaluator.metrics import forecast_metrics, mae, nrmse, persistence
from models.base import FORECAST

# The metrics thresholds may name (the per-step NRMSEs are reported, not thresholded).
METRICS = {"nrmse": LOWER, "mae": LOWER, "relative_nrmse": LOWER, "persistence_nrmse": LOWER}
FORECAST_OUTPUT = "forecast"
TABLE_WINDOWS = 3  # held-out windows shown step by step


def float_feature(records: Sequence[bytes], key: str) -> np.ndarray:
    """The float feature ``key`` of serialized tf.Examples, ``(examples, length)``; every record
    must hold the same number of values."""
    rows = [list(tf.train.Example.FromString(r).features.feature[key].float_list.value) for r in records]
    lengths = {len(row) for row in rows}
    if len(lengths) != 1 or not rows or 0 in lengths:
        raise ValueError(f"feature '{key}' must hold the same number (> 0) of floats in every eval example; "
                         f"found lengths {sorted(lengths)}")
    return np.asarray(rows, np.float64)


class Executor(EvaluatorExecutor):
    METRICS = METRICS

    def parameters(self, exec_properties: Mapping[str, Any]) -> dict[str, Any]:
        return {"past_key": exec_property(exec_properties, "past_key", "past"),
                "future_key": exec_property(exec_properties, "future_key", "future")}

    @staticmethod
    def forecast(model: ServedModel, examples: Sequence[bytes]) -> np.ndarray:
        name = model.first(FORECAST)
        if name is None:
            raise ValueError(f"the model's signature roles {model.roles} include no '{FORECAST}' signature")
        out = model.call_on_examples(name, examples)
        if FORECAST_OUTPUT not in out:
            raise ValueError(f"signature {name!r} outputs {sorted(out)}, not '{FORECAST_OUTPUT}'")
        return np.asarray(out[FORECAST_OUTPUT], np.float64)

    def evaluate(self, model: ServedModel, examples: Sequence[bytes], params: Mapping[str, Any]) -> dict[str, float]:
        truth = float_feature(examples, params["future_key"])
        past = float_feature(examples, params["past_key"])
        return forecast_metrics(self.forecast(model, examples), truth, past)

    def figures(self, model: ServedModel, examples: Sequence[bytes], params: Mapping[str, Any]) -> list[Figure]:
        truth = float_feature(examples, params["future_key"])
        past = float_feature(examples, params["past_key"])
        prediction = self.forecast(model, examples)
        naive = persistence(past, truth.shape[1])
        model_nrmse, naive_nrmse = nrmse(prediction, truth, axis=0), nrmse(naive, truth, axis=0)
        model_mae = mae(prediction, truth, axis=0)
        steps = [[str(k + 1), f"{model_nrmse[k]:.4f}", f"{model_mae[k]:.4f}", f"{naive_nrmse[k]:.4f}"]
                 for k in range(truth.shape[1])]
        windows = []
        for i in np.linspace(0, len(truth) - 1, min(TABLE_WINDOWS, len(truth))).astype(int):
            windows += [[str(i), str(k + 1), f"{truth[i, k]:.4f}", f"{prediction[i, k]:.4f}", f"{naive[i, k]:.4f}"]
                        for k in range(truth.shape[1])]
        return [
            Figure("forecast_error_by_step", "table", "Held-out error by forecast step",
                   f"NRMSE and MAE of the {model.first(FORECAST)} signature on {len(truth)} held-out windows, "
                   "per step of the horizon, beside persistence (the window's last value).",
                   labels={"header": ["step", "NRMSE", "MAE", "persistence NRMSE"], "rows": steps}),
            Figure("forecast_vs_truth", "table", "Forecast vs truth on held-out windows",
                   "Held-out windows (first, middle, last) step by step: the true value, the served "
                   "forecast and persistence's.",
                   labels={"header": ["window", "step", "truth", "forecast", "persistence"], "rows": windows}),
        ]

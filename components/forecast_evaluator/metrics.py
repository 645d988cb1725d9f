"""Forecast metrics on arrays ``(examples, horizon)``: numpy only.

NRMSE is the root mean squared error divided by the standard deviation of
the true values (all steps of all held-out windows): 1.0 is the error of
forecasting their mean, 0 is perfect. Persistence forecasts the window's last
value at every step; ``relative_nrmse`` is the model's NRMSE over
persistence's (below 1: the model beats it).

>>> truth = np.array([[1.0, 2.0], [3.0, 4.0]])
>>> m = forecast_metrics(truth + 0.5, truth, past=np.array([[0.0, 1.0], [2.0, 3.0]]))
>>> round(m["mae"], 6), round(m["nrmse"], 6), round(m["persistence_nrmse"], 6), m["nrmse_step_2"] == m["nrmse_step_1"]
(0.5, 0.447214, 0.632456, True)
"""

from __future__ import annotations

import numpy as np


def _check(prediction: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    prediction, truth = np.asarray(prediction, np.float64), np.asarray(truth, np.float64)
    if prediction.shape != truth.shape or prediction.ndim != 2 or not truth.size:
        raise ValueError(f"forecasts {prediction.shape} and truths {truth.shape} must both be "
                         "(examples > 0, horizon)")
    return prediction, truth


def rmse(prediction: np.ndarray, truth: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    return np.sqrt(np.mean((prediction - truth) ** 2, axis=axis))


def nrmse(prediction: np.ndarray, truth: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """RMSE over the standard deviation of ``truth`` (all its values); ``axis=0``: per step."""
    prediction, truth = _check(prediction, truth)
    spread = float(np.std(truth))
    return rmse(prediction, truth, axis) / (spread if spread > 0 else 1.0)


def mae(prediction: np.ndarray, truth: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    prediction, truth = _check(prediction, truth)
    return np.mean(np.abs(prediction - truth), axis=axis)


def persistence(past: np.ndarray, horizon: int) -> np.ndarray:
    """The last value of each window, repeated over the horizon."""
    past = np.asarray(past, np.float64)
    return np.repeat(past[:, -1:], horizon, axis=1)


def forecast_metrics(prediction: np.ndarray, truth: np.ndarray, past: np.ndarray) -> dict[str, float]:
    """``nrmse``, ``mae``, persistence's, their ratio and the NRMSE of every step (``nrmse_step_<k>``)."""
    prediction, truth = _check(prediction, truth)
    naive = persistence(past, truth.shape[1])
    metrics = {"nrmse": float(nrmse(prediction, truth)), "mae": float(mae(prediction, truth)),
               "persistence_nrmse": float(nrmse(naive, truth)), "persistence_mae": float(mae(naive, truth))}
    metrics["relative_nrmse"] = metrics["nrmse"] / max(metrics["persistence_nrmse"], 1e-12)
    for step, value in enumerate(nrmse(prediction, truth, axis=0), start=1):
        metrics[f"nrmse_step_{step}"] = float(value)
    return metrics

"""Forecasting baselines side by side: persistence, a linear autoregressive model, the
stacked LSTM forecaster and the echo state network, on Mackey-Glass and the sunspots.

Same data as the pipelines (``datasets/series.py``: the chronological 80/20
split, windows of 32 values -> the next 8) and the same normalisation as the
Transform (``components/transforms/series.py``: mean and standard deviation
of the training windows' values; here in numpy). Every model forecasts the
whole horizon at once (direct multi-output):

* persistence: the window's last value at every step;
* linear AR: least squares of the horizon on ``[window, 1]`` (numpy);
* ``lstm_forecaster`` and ``esn``: the families' own ``build``/``train``
  (``models/forecaster.py``, ``models/esn.py``) with their pipeline
  hyperparameters (``pipelines/forecasting.py``) unless ``--hparam`` says otherwise.

Printed per dataset: held-out NRMSE (RMSE over the standard deviation of the
true values) and MAE (series units) over the horizon, NRMSE relative to
persistence, and training time (seconds; build + train, this machine).
Run::

    python benchmarks/forecasting.py                         # both datasets, every model
    python benchmarks/forecasting.py --datasets mackey_glass --models persistence,linear,esn
    python benchmarks/forecasting.py --lstm-epochs 10 --hparam esn:units=800
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

MODELS = ("persistence", "linear", "lstm", "esn")
PIPELINES = {"mackey_glass": ("MACKEY_GLASS_ESN", "MACKEY_GLASS_LSTM"), "sunspots": ("SUNSPOTS_ESN", None)}


def load(name: str) -> dict[str, np.ndarray]:
    from datasets import series

    values = series.mackey_glass() if name == "mackey_glass" else series.sunspots()
    split = series.chronological_split(values)
    arrays = {f"{part}_{key}": np.stack([e[key] for e in split[part]]).astype(np.float64)
              for part in ("train", "test") for key in (series.PAST, series.FUTURE)}
    arrays["mean"], arrays["std"] = arrays["train_past"].mean(), arrays["train_past"].std()
    return arrays


def metrics(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    from components.forecast_evaluator.metrics import mae, nrmse

    return {"nrmse": float(nrmse(prediction, truth)), "mae": float(mae(prediction, truth))}


def linear_ar(data: Mapping[str, np.ndarray]) -> np.ndarray:
    design = np.concatenate([data["train_past"], np.ones((len(data["train_past"]), 1))], axis=1)
    weights = np.linalg.lstsq(design, data["train_future"], rcond=None)[0]
    return np.concatenate([data["test_past"], np.ones((len(data["test_past"]), 1))], axis=1) @ weights


def family_forecast(model_name: str, overrides: Mapping[str, Any], data: Mapping[str, np.ndarray]) -> np.ndarray:
    import tensorflow as tf

    from models import registry as models
    from models.base import DataSpec, FeatureInfo
    from models.features import series

    family = models.get(model_name)
    hparams = family.hparams(overrides)
    mean, std = data["mean"], data["std"]
    window = data["train_past"].shape[1]
    spec = DataSpec({series.WINDOW_FEATURE: FeatureInfo((window,), "float32"),
                     series.OFFSET: FeatureInfo((1,), "float32"), series.SCALE: FeatureInfo((1,), "float32")},
                    series.FUTURE)

    def dataset(part: str, shuffle: bool) -> tf.data.Dataset:
        x = ((data[f"{part}_past"] - mean) / std).astype(np.float32)
        y = ((data[f"{part}_future"] - mean) / std).astype(np.float32)
        ds = tf.data.Dataset.from_tensor_slices(({series.WINDOW_FEATURE: x}, y))
        if shuffle:
            ds = ds.shuffle(len(x), seed=hparams.seed)
        return ds.batch(hparams.batch_size)

    import keras
    keras.utils.set_random_seed(hparams.seed)
    model = family.build(hparams, spec)
    family.train(model, hparams, dataset("train", True), dataset("test", False))
    x = ((data["test_past"] - mean) / std).astype(np.float32)
    return np.asarray(model.predict({series.WINDOW_FEATURE: x}, verbose=0), np.float64) * std + mean


def pipeline_hparams(dataset: str, kind: str) -> dict[str, Any]:
    from pipelines import forecasting

    esn, lstm = PIPELINES[dataset]
    name = esn if kind == "esn" else lstm
    return dict(getattr(forecasting, name).hparams) if name else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="mackey_glass,sunspots")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--lstm-epochs", type=int, default=None, help="default: the family's")
    parser.add_argument("--hparam", action="append", default=[],
                        help="MODEL:NAME=VALUE (MODEL esn or lstm; VALUE is JSON or a string)")
    args = parser.parse_args()
    chosen = args.models.split(",")
    extra: dict[str, dict[str, Any]] = {"esn": {}, "lstm": {}}
    for item in args.hparam:
        model, _, assignment = item.partition(":")
        name, _, value = assignment.partition("=")
        try:
            extra[model][name] = json.loads(value)
        except json.JSONDecodeError:
            extra[model][name] = value
    if args.lstm_epochs:
        extra["lstm"]["epochs"] = args.lstm_epochs

    rows = []
    for dataset in args.datasets.split(","):
        data = load(dataset)
        truth = data["test_future"]
        persistence = np.repeat(data["test_past"][:, -1:], truth.shape[1], axis=1)
        reference = metrics(persistence, truth)["nrmse"]
        for model in chosen:
            start = time.perf_counter()
            if model == "persistence":
                prediction = persistence
            elif model == "linear":
                prediction = linear_ar(data)
            else:
                overrides = {**pipeline_hparams(dataset, model), **extra[model]}
                prediction = family_forecast("esn" if model == "esn" else "lstm_forecaster", overrides, data)
            seconds = time.perf_counter() - start
            result = metrics(prediction, truth)
            rows.append((dataset, model, result["nrmse"], result["mae"], result["nrmse"] / reference, seconds))
            print(f"  {dataset} {model}: NRMSE {result['nrmse']:.4f} ({seconds:.1f} s)", flush=True)

    print(f"\n{'dataset':<14}{'model':<13}{'NRMSE':>9}{'MAE':>10}{'/persist.':>11}{'train s':>10}")
    for dataset, model, nrmse, mae, relative, seconds in rows:
        print(f"{dataset:<14}{model:<13}{nrmse:>9.4f}{mae:>10.4f}{relative:>11.3f}{seconds:>10.2f}")


if __name__ == "__main__":
    main()

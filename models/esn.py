"""Echo state network forecaster (reservoir computing), as the notes define it.

A fixed, random, sparse recurrent reservoir (:class:`models.layers.reservoir.Reservoir`,
scaled to a chosen spectral radius: the echo state property) is driven by the
normalised window, one value per step. Nothing in it is trained: only the
linear readout from ``[state_t, u_t, 1]`` to the next ``horizon`` values is,
by ridge regression in closed form on the collected states
(:func:`ridge_readout`), never by backpropagation.

Training (:meth:`Esn.train`, one pass over the training windows): the
reservoir runs over each window from a zero state. With ``train_on="last_step"``
(the default) each window gives one training row, its last step, exactly
what is served; with ``"every_step"`` the states of the first ``washout``
steps are discarded (they still remember the zero start) and every later
step ``t`` is a row whose target is the ``horizon`` values after ``t`` (read
from the window and its label): more rows, but from states that have seen
less history than a served one (on Mackey-Glass, 400 units: held-out NRMSE
0.0026 with the last step, 0.0137 with every step; ``benchmarks/forecasting.py``).
The normal equations are accumulated in float64 over the batches and solved once.

Forecasting is direct multi-output: the readout on the state after the whole
window gives all ``horizon`` values at once (no iteration, no feedback of its
own forecasts).

Example:

>>> from models import registry
>>> family = registry.get("esn")
>>> hp = family.hparams({"units": 30, "horizon": 3, "washout": 4})
>>> data = DataSpec({"window": FeatureInfo((12,), "float32"), "offset": FeatureInfo((1,), "float32"),
...                  "scale": FeatureInfo((1,), "float32")}, "future")
>>> model = family.build(hp, data)
>>> model.output_shape, [w.name for w in model.trainable_weights]
((None, 3), ['kernel', 'bias'])
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

import keras
import numpy as np

from models import registry
from models.base import DataSpec, FeatureInfo  # noqa: F401  (doctest)
from models.common import check_choice
from models.features import series
from models.forecaster import ForecasterFamily, ForecastHParams
from models.hparams import check_positive, check_positive_int
from models.layers.reservoir import Reservoir

TRAIN_ON = ("every_step", "last_step")


@dataclasses.dataclass(kw_only=True)
class EsnHParams(ForecastHParams):
    """The reservoir's shape and the readout's ridge penalty.

    ``epochs``, ``learning_rate`` and the optimizer settings are unused: the
    readout is solved in closed form in one pass over the data.
    """

    units: int = 400                  # reservoir size
    spectral_radius: float = 0.95     # of the recurrent weights (< 1: echo state property)
    input_scaling: float = 0.1        # half-width of the uniform input weights
    bias_scaling: float = 0.2         # half-width of the uniform reservoir bias
    leak_rate: float = 0.6            # a in x_t = (1 - a) x_{t-1} + a tanh(...); 1 = no leak
    sparsity: float = 0.9             # share of zero recurrent weights
    washout: int = 8                  # first steps of a window that give no rows ("every_step")
    ridge: float = 1e-7               # L2 penalty of the readout (the bias is not penalised)
    train_on: str = "last_step"       # training rows: each window's last step, or every step after the washout
    epochs: int = 1
    batch_size: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("units", self.units)
        check_positive("spectral_radius", self.spectral_radius)
        check_positive("input_scaling", self.input_scaling)
        if not isinstance(self.leak_rate, (int, float)) or not 0 < self.leak_rate <= 1:
            raise ValueError(f"leak_rate must be in (0, 1], got {self.leak_rate!r}")
        if not isinstance(self.sparsity, (int, float)) or not 0 <= self.sparsity < 1:
            raise ValueError(f"sparsity must be in [0, 1), got {self.sparsity!r}")
        if not isinstance(self.bias_scaling, (int, float)) or not self.bias_scaling >= 0:
            raise ValueError(f"bias_scaling must be >= 0, got {self.bias_scaling!r}")
        if not isinstance(self.washout, int) or isinstance(self.washout, bool) or self.washout < 0:
            raise ValueError(f"washout must be an integer >= 0, got {self.washout!r}")
        if not isinstance(self.ridge, (int, float)) or not math.isfinite(self.ridge) or self.ridge < 0:
            raise ValueError(f"ridge must be a finite number >= 0, got {self.ridge!r}")
        check_choice("train_on", self.train_on, TRAIN_ON)


class RidgeAccumulator:
    """The normal equations of a ridge regression, accumulated over batches in float64.

    Rows are ``z = [features, 1]``; :meth:`solve` returns the ``(kernel, bias)``
    minimising ``|Z W - Y|^2 + ridge |kernel|^2`` (the bias unpenalised).

    >>> acc = RidgeAccumulator()
    >>> acc.add(np.array([[0.0], [1.0], [2.0]]), np.array([[1.0], [3.0], [5.0]]))
    >>> kernel, bias = acc.solve(ridge=0.0)
    >>> np.round(kernel, 6).tolist(), np.round(bias, 6).tolist()
    ([[2.0]], [1.0])
    """

    def __init__(self) -> None:
        self.gram: np.ndarray | None = None
        self.cross: np.ndarray | None = None
        self.rows = 0

    def add(self, features: np.ndarray, targets: np.ndarray) -> None:
        z = np.concatenate([np.asarray(features, np.float64), np.ones((len(features), 1))], axis=1)
        y = np.asarray(targets, np.float64)
        gram, cross = z.T @ z, z.T @ y
        self.gram = gram if self.gram is None else self.gram + gram
        self.cross = cross if self.cross is None else self.cross + cross
        self.rows += len(z)

    def solve(self, ridge: float) -> tuple[np.ndarray, np.ndarray]:
        if self.gram is None or not self.rows:
            raise ValueError("the readout has no training rows: the data is empty or the washout "
                             "is not shorter than the window")
        penalty = np.full(len(self.gram), float(ridge))
        penalty[-1] = 0.0
        lhs = self.gram + np.diag(penalty)
        try:
            weights = np.linalg.solve(lhs, self.cross)
        except np.linalg.LinAlgError:  # singular without a penalty: the least-norm solution
            weights = np.linalg.lstsq(lhs, self.cross, rcond=None)[0]
        return weights[:-1], weights[-1]


def ridge_readout(features: np.ndarray, targets: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """``(kernel, bias)`` of the ridge regression of ``targets`` on ``features`` in one batch."""
    accumulator = RidgeAccumulator()
    accumulator.add(features, targets)
    return accumulator.solve(ridge)


def training_rows(states: np.ndarray, inputs: np.ndarray, window: np.ndarray, future: np.ndarray,
                  horizon: int, washout: int, last_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Readout rows ``[state_t, u_t]`` and their targets (the ``horizon`` values after ``t``).

    ``states`` ``(batch, window, units)`` and ``inputs`` ``(batch, window, 1)``
    come from the reservoir run over ``window`` ``(batch, window)`` whose
    continuation is ``future`` ``(batch, >= horizon)``.

    >>> s = np.arange(4.0).reshape(1, 4, 1)
    >>> rows, targets = training_rows(s, s, np.arange(4.0)[None], np.array([[4.0, 5.0]]), 2, 1, False)
    >>> rows[:, 0].tolist(), targets.tolist()
    ([1.0, 2.0, 3.0], [[2.0, 3.0], [3.0, 4.0], [4.0, 5.0]])
    """
    length = window.shape[1]
    if washout >= length:
        raise ValueError(f"washout ({washout}) must be shorter than the window ({length})")
    sequence = np.concatenate([window, future[:, :horizon]], axis=1)
    steps = [length - 1] if last_only else range(washout, length)
    rows = np.concatenate([np.concatenate([states[:, t], inputs[:, t]], axis=1) for t in steps])
    targets = np.concatenate([sequence[:, t + 1:t + 1 + horizon] for t in steps])
    return rows, targets


@registry.register
class Esn(ForecasterFamily):
    name = "esn"
    hparams_cls = EsnHParams

    def build_model(self, hparams: EsnHParams, data: DataSpec) -> keras.Model:
        length = self.window_length(data)
        if hparams.washout >= length:
            raise ValueError(f"washout ({hparams.washout}) must be shorter than the window ({length})")
        window = self.window_input(data)
        steps = keras.layers.Reshape((length, 1), name="steps")(window)
        states = Reservoir(hparams.units, spectral_radius=hparams.spectral_radius,
                           input_scaling=hparams.input_scaling, leak_rate=hparams.leak_rate,
                           sparsity=hparams.sparsity, bias_scaling=hparams.bias_scaling, seed=hparams.seed,
                           return_sequences=True, name="reservoir")(steps)
        last = keras.layers.Concatenate(name="last_step")([states[:, -1, :], steps[:, -1, :]])
        outputs = keras.layers.Dense(hparams.horizon, kernel_initializer="zeros", name="readout")(last)
        return keras.Model({series.WINDOW_FEATURE: window}, outputs, name=self.name)

    @staticmethod
    def collector(model: keras.Model) -> keras.Model:
        """The window -> (every step's reservoir state, every step's input) part of ``model``."""
        return keras.Model(model.inputs, [model.get_layer("reservoir").output, model.get_layer("steps").output])

    @staticmethod
    def _batches(dataset: Any, steps: int | None) -> Iterable[tuple[Any, Any]]:
        return dataset.take(steps) if steps is not None and hasattr(dataset, "take") else dataset

    def fit_readout(self, model: keras.Model, hparams: EsnHParams, train_ds: Any) -> int:
        """Collects the reservoir states over ``train_ds`` and solves the readout; returns the rows used."""
        collector = self.collector(model)
        accumulator = RidgeAccumulator()
        for features, future in self._batches(train_ds, hparams.steps_per_epoch):
            window = np.asarray(features[series.WINDOW_FEATURE], np.float32)
            future = np.asarray(future, np.float32)
            if future.ndim != 2 or future.shape[1] != hparams.horizon:
                raise ValueError(f"the label has shape {future.shape[1:]}, the forecaster's horizon is "
                                 f"{hparams.horizon}")
            states, inputs = (np.asarray(t) for t in collector.predict_on_batch({series.WINDOW_FEATURE: window}))
            accumulator.add(*training_rows(states, inputs, window, future, hparams.horizon, hparams.washout,
                                           hparams.train_on == "last_step"))
        kernel, bias = accumulator.solve(hparams.ridge)
        model.get_layer("readout").set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
        return accumulator.rows

    def errors(self, model: keras.Model, dataset: Any, steps: int | None = None) -> dict[str, float]:
        """Mean squared and absolute error of the (normalised) forecast over ``dataset``."""
        squared = absolute = count = 0.0
        for features, future in self._batches(dataset, steps):
            prediction = np.asarray(model.predict_on_batch({series.WINDOW_FEATURE: np.asarray(
                features[series.WINDOW_FEATURE], np.float32)}))
            error = prediction - np.asarray(future)
            squared, absolute, count = (squared + float(np.sum(error ** 2)), absolute + float(np.sum(np.abs(error))),
                                        count + error.size)
        return {"loss": squared / max(count, 1), "mae": absolute / max(count, 1)}

    def train(self, model: keras.Model, hparams: EsnHParams, train_ds: Any, eval_ds: Any,
              callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict[str, list[float]]:
        """Ridge regression of the readout in closed form (no backpropagation, no epochs);
        the history holds the normalised training and eval errors and the rows solved for."""
        rows = self.fit_readout(model, hparams, train_ds)
        history = {name: [value] for name, value in self.errors(model, train_ds, hparams.steps_per_epoch).items()}
        if eval_ds is not None:
            history.update({f"val_{name}": [value] for name, value in self.errors(model, eval_ds).items()})
        history["readout_rows"] = [float(rows)]
        return history

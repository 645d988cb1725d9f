"""Time series for forecasting: the Mackey-Glass chaotic series and the yearly sunspot numbers.

Each TFDS example is one forecast origin ``t`` of the series: ``past``, the
:data:`WINDOW` values before it, and ``future``, the :data:`HORIZON` values
from it on (float32). The split is chronological: the series' first
``train_fraction`` is train (every window whose future ends inside it) and
test holds every origin after it (its past may reach back into train: that
is history, never a target), so no test target is ever seen in training.

* ``mackey_glass``: the delay differential equation

      dx/dt = beta x(t - tau) / (1 + x(t - tau)^n) - gamma x(t)

  with ``tau = 17``, ``beta = 0.2``, ``gamma = 0.1``, ``n = 10`` (chaotic),
  integrated by fourth-order Runge-Kutta with step ``dt = 0.1`` on a delay
  buffer (the half-step delayed values interpolated linearly), from
  ``x = 1.2`` on ``t <= 0``; after a transient of 500 time units the series
  is sampled every 1 time unit: 3000 values.
* ``sunspots``: the yearly mean sunspot numbers 1700-2008 that statsmodels
  ships (``statsmodels.datasets.sunspots``): 309 values.

The window, the horizon and the feature names are the Transform-to-model
contract's (``models.features.series``: plain constants, so registering the
builders imports no model code).

>>> x = mackey_glass(50)
>>> x.shape, bool(0.2 < x.min() and x.max() < 1.5)
((50,), True)
>>> split = chronological_split(np.arange(100.0), window=4, horizon=2, train_fraction=0.5)
>>> [(len(split[s]), split[s][0]["origin"], split[s][-1]["origin"]) for s in ("train", "test")]
[(45, 4, 48), (49, 50, 98)]
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds

from datasets import is_registered
from datasets.generated import GeneratedBuilder
from models.features.series import FUTURE, HORIZON, PAST, WINDOW

TRAIN_FRACTION = 0.8

# Mackey-Glass, as in Mackey & Glass (1977) and the reservoir-computing literature.
TAU, BETA, GAMMA, POWER = 17.0, 0.2, 0.1, 10
MG_DT, MG_SAMPLE_EVERY, MG_TRANSIENT, MG_LENGTH, MG_X0 = 0.1, 10, 500.0, 3000, 1.2


def mackey_glass_rate(x: float | np.ndarray, delayed: float | np.ndarray, beta: float = BETA,
                      gamma: float = GAMMA, power: int = POWER) -> float | np.ndarray:
    """The right-hand side ``dx/dt`` given ``x(t)`` and ``x(t - tau)``."""
    return beta * delayed / (1.0 + delayed ** power) - gamma * x


def mackey_glass(length: int = MG_LENGTH, tau: float = TAU, dt: float = MG_DT,
                 sample_every: int = MG_SAMPLE_EVERY, transient: float = MG_TRANSIENT,
                 x0: float = MG_X0) -> np.ndarray:
    """``length`` values of the Mackey-Glass series, one every ``sample_every * dt`` time units,
    after ``transient`` time units (RK4 with step ``dt`` on the delay buffer; see the module)."""
    delay = round(tau / dt)
    if abs(delay * dt - tau) > 1e-9 or delay < 1:
        raise ValueError(f"tau ({tau}) must be a positive multiple of dt ({dt})")
    skip = round(transient / dt)
    steps = skip + (length - 1) * sample_every
    x = np.empty(delay + steps + 1)
    x[:delay + 1] = x0  # the constant history on [-tau, 0]
    f = mackey_glass_rate
    for k in range(delay, delay + steps):
        lagged, lagged_next = x[k - delay], x[k - delay + 1]
        lagged_half = 0.5 * (lagged + lagged_next)
        k1 = f(x[k], lagged)
        k2 = f(x[k] + 0.5 * dt * k1, lagged_half)
        k3 = f(x[k] + 0.5 * dt * k2, lagged_half)
        k4 = f(x[k] + dt * k3, lagged_next)
        x[k + 1] = x[k] + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return x[delay + skip::sample_every][:length].astype(np.float64)


def sunspots() -> np.ndarray:
    """The yearly mean sunspot numbers 1700-2008 bundled with statsmodels."""
    from statsmodels.datasets import sunspots as bundled

    data = bundled.load_pandas().data
    return data["SUNACTIVITY"].to_numpy(np.float64)


def windows(values: np.ndarray, origins: range, window: int, horizon: int) -> list[dict[str, Any]]:
    """``{"origin": t, "past": values[t - window:t], "future": values[t:t + horizon]}`` per origin."""
    return [{"origin": t, PAST: np.asarray(values[t - window:t], np.float32),
             FUTURE: np.asarray(values[t:t + horizon], np.float32)} for t in origins]


def chronological_split(values: np.ndarray, window: int = WINDOW, horizon: int = HORIZON,
                        train_fraction: float = TRAIN_FRACTION) -> dict[str, list[dict[str, Any]]]:
    """Train: the windows whose future ends in the first ``train_fraction`` of the series;
    test: every origin from there on (see the module)."""
    values = np.asarray(values, np.float64)
    if values.ndim != 1 or not np.all(np.isfinite(values)):
        raise ValueError("the series must be one-dimensional and finite")
    cut = int(len(values) * train_fraction)
    if cut - horizon < window or len(values) - horizon < cut:
        raise ValueError(f"a series of {len(values)} values is too short for windows of {window} "
                         f"and a horizon of {horizon} on both sides of the cut at {cut}")
    return {"train": windows(values, range(window, cut - horizon + 1), window, horizon),
            "test": windows(values, range(cut, len(values) - horizon + 1), window, horizon)}


class SeriesBuilder(GeneratedBuilder, skip_registration=True):
    """A forecasting dataset of :data:`WINDOW` past values and :data:`HORIZON` future values per example."""

    def series(self) -> np.ndarray:
        raise NotImplementedError

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=(self.__doc__ or "") + "\n\n" + (__doc__ or "").split("\n\n")[0],
            features=tfds.features.FeaturesDict({
                PAST: tfds.features.Tensor(shape=(WINDOW,), dtype=np.float32),
                FUTURE: tfds.features.Tensor(shape=(HORIZON,), dtype=np.float32),
            }),
            supervised_keys=(PAST, FUTURE),
        )

    def corpus(self) -> dict[str, list[dict[str, Any]]]:
        return {split: [{PAST: e[PAST], FUTURE: e[FUTURE]} for e in examples]
                for split, examples in chronological_split(self.series()).items()}


class MackeyGlass(SeriesBuilder, skip_registration=is_registered("mackey_glass")):
    """The Mackey-Glass chaotic series (tau = 17), 3000 values, windows of 32 -> the next 8."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "RK4, dt 0.1, sampled every 1, 80/20 chronological."}

    def series(self) -> np.ndarray:
        return mackey_glass()


class Sunspots(SeriesBuilder, skip_registration=is_registered("sunspots")):
    """Yearly sunspot numbers 1700-2008 (statsmodels), windows of 32 years -> the next 8."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "statsmodels' SUNACTIVITY, 80/20 chronological."}

    def series(self) -> np.ndarray:
        return sunspots()

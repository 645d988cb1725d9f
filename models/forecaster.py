"""Forecasters of a time series, and the project's stacked LSTM forecaster.

:class:`ForecasterFamily` is what every forecaster shares (the task
``forecasting``): its model maps the normalised :data:`~models.features.series.WINDOW_FEATURE`
``(window,)`` to the normalised next ``horizon`` values (direct multi-output:
all steps at once, no iteration), trained as a regression on the label
:data:`~models.features.series.FUTURE`; its served signature ``forecast``
(role ``forecast``) turns the forecast back into the series' units with the
Transform's :data:`~models.features.series.OFFSET` and
:data:`~models.features.series.SCALE`.

``lstm_forecaster``: window -> ``depth`` stacked (unidirectional) LSTM layers
-> ``Dense(horizon)``, trained by backpropagation on the mean squared error:
the baseline of the echo state network (``models/esn.py``).

Example:

>>> from models import registry
>>> family = registry.get("lstm_forecaster")
>>> hp = family.hparams({"units": 8, "depth": 2, "horizon": 3})
>>> data = DataSpec({"window": FeatureInfo((12,), "float32"), "offset": FeatureInfo((1,), "float32"),
...                  "scale": FeatureInfo((1,), "float32")}, "future")
>>> family.build(hp, data).output_shape
(None, 3)
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

import keras

from models import registry
from models.base import FORECAST, FORECASTING, DataSpec, FeatureInfo, ModelFamily, Signature  # noqa: F401
from models.common import check_choice, make_optimizer
from models.features import feature_shape, series
from models.hparams import HParams, check_positive_int
from models.layers.recurrent import CELLS, StackedRNN


@dataclasses.dataclass(kw_only=True)
class ForecastHParams(HParams):
    """What every forecaster reads: the horizon it forecasts (the label's length)."""

    horizon: int = series.HORIZON

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("horizon", self.horizon)


class ForecasterFamily(ModelFamily):
    """A forecaster: a model on the normalised window, served in the series' units.

    A subclass implements :meth:`build_model` (window input -> ``(batch, horizon)``).
    """

    task = FORECASTING
    hparams_cls = ForecastHParams
    main_signature = "forecast"
    signature_roles = types.MappingProxyType({"forecast": FORECAST})

    @staticmethod
    def window_length(data: DataSpec) -> int:
        """The window's length; the error says what the forecaster needs."""
        shape = feature_shape(data.features, series.WINDOW_FEATURE)
        if len(shape) != 1 or shape[0] < 1:
            raise ValueError(f"feature '{series.WINDOW_FEATURE}' must be a window of values (window,); "
                             f"got shape {shape}")
        return shape[0]

    def window_input(self, data: DataSpec) -> Any:
        return keras.Input(shape=(self.window_length(data),), dtype="float32", name=series.WINDOW_FEATURE)

    def build_model(self, hparams: Any, data: DataSpec) -> keras.Model:
        raise NotImplementedError

    def build(self, hparams: Any, data: DataSpec) -> keras.Model:
        model = self.build_model(hparams, data)
        model.compile(optimizer=make_optimizer(hparams), loss="mse", metrics=["mae"])
        return model

    def signatures(self, model: keras.Model, hparams: Any, data: DataSpec) -> dict[str, Signature]:
        for key in (series.OFFSET, series.SCALE):
            feature_shape(data.features, key)

        def forecast(features: Mapping[str, Any]) -> dict[str, Any]:
            normalised = model({series.WINDOW_FEATURE: features[series.WINDOW_FEATURE]}, training=False)
            offset = keras.ops.cast(features[series.OFFSET], "float32")
            scale = keras.ops.cast(features[series.SCALE], "float32")
            return {series.FORECAST: keras.ops.cast(normalised, "float32") * scale + offset}

        return {"forecast": Signature(forecast)}


@dataclasses.dataclass(kw_only=True)
class LstmForecasterHParams(ForecastHParams):
    cell: str = "lstm"          # "lstm", "gru" or "simple_rnn"
    units: int = 64
    depth: int = 2              # stacked recurrent layers
    dropout: float = 0.0        # on every recurrent layer's inputs
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 3e-3
    lr_schedule: str | None = "cosine"
    clipnorm: float | None = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("cell", self.cell, CELLS)
        check_positive_int("units", self.units)
        check_positive_int("depth", self.depth)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")


@registry.register
class LstmForecaster(ForecasterFamily):
    name = "lstm_forecaster"
    hparams_cls = LstmForecasterHParams

    def build_model(self, hparams: LstmForecasterHParams, data: DataSpec) -> keras.Model:
        window = self.window_input(data)
        x = keras.layers.Reshape((self.window_length(data), 1), name="steps")(window)
        x = StackedRNN(hparams.cell, hparams.units, hparams.depth, bidirectional=False,
                       dropout=hparams.dropout, name="recurrent")(x)
        outputs = keras.layers.Dense(hparams.horizon, name="horizon")(x)
        return keras.Model({series.WINDOW_FEATURE: window}, outputs, name=self.name)

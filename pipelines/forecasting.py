"""Forecasting pipelines: a window of past values -> the next values (the ``forecasting`` task).

Data: local TFDS builders (``datasets/series.py``, chronological 80/20
splits, windows of 32 values -> the next 8): ``mackey_glass``, the chaotic
Mackey-Glass series (tau = 17) integrated from its delay equation, and
``sunspots``, statsmodels' yearly sunspot numbers. The Transform
(``components/transforms/series.py``) checks the window and normalises with
the training split's statistics; the forecasters (``models/esn.py``,
``models/forecaster.py``) serve ``forecast`` (tf.Examples) and
``forecast_raw`` (``{"past": [32 floats]}``), the horizon out in the series'
units. The ForecastEvaluator blesses on held-out NRMSE over the horizon (an
upper bound, no regression) and on beating persistence (``relative_nrmse``,
the model's NRMSE over persistence's, below 1).
"""

from pipelines.config import DatasetConfig, PipelineConfig, Threshold

_SERIES = {"past_key": "past", "future_key": "future", "window": 32, "horizon": 8}
_SPLITS = {"train": "train", "eval": "test"}


def _thresholds(nrmse: float, relative: float) -> tuple[Threshold, ...]:
    return (Threshold("nrmse", upper_bound=nrmse, higher_is_better=False),
            Threshold("relative_nrmse", upper_bound=relative, higher_is_better=False, no_regression=False))


MACKEY_GLASS_ESN = PipelineConfig(
    name="mackey_glass_esn",
    description="Mackey-Glass (tau 17), 32 -> 8 steps -> echo state network (ridge readout), NRMSE <= 0.01",
    dataset=DatasetConfig("mackey_glass", splits=_SPLITS),
    preprocessing_fn="components.transforms.series.preprocessing_fn",
    transform_config=_SERIES,
    model="esn",
    hparams={},
    label_key="future",
    thresholds=_thresholds(nrmse=0.01, relative=0.1),
    serving_model_name="mackey_glass_esn",
)

MACKEY_GLASS_LSTM = MACKEY_GLASS_ESN.with_overrides(
    name="mackey_glass_lstm",
    description="Mackey-Glass (tau 17), 32 -> 8 steps -> stacked LSTM forecaster, NRMSE <= 0.05",
    model="lstm_forecaster",
    thresholds=_thresholds(nrmse=0.05, relative=0.1),
    serving_model_name="mackey_glass_lstm",
)

SUNSPOTS_ESN = PipelineConfig(
    name="sunspots_esn",
    description="yearly sunspot numbers (statsmodels), 32 -> 8 years -> echo state network, NRMSE <= 0.8",
    dataset=DatasetConfig("sunspots", splits=_SPLITS),
    preprocessing_fn="components.transforms.series.preprocessing_fn",
    transform_config=_SERIES,
    model="esn",
    hparams={"units": 100, "ridge": 100.0, "input_scaling": 0.3, "leak_rate": 0.5, "bias_scaling": 0.0,
             "train_on": "every_step"},
    label_key="future",
    thresholds=_thresholds(nrmse=0.8, relative=0.6),
    serving_model_name="sunspots_esn",
)

"""ForecastEvaluator: metrics against numpy, Do() on tiny forecast SavedModels picked by their
role, the blessing both ways (bounds, no regression) and the report's tables."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

pytest.importorskip("tfx")
from tfx.types import channel_utils, standard_artifacts

from components.forecast_evaluator import executor
from components.forecast_evaluator.component import ForecastEvaluator
from components.forecast_evaluator.metrics import forecast_metrics
from models.base import FORECAST
from pipelines.config import Threshold
from tests.fixtures.evaluator_harness import eval_examples, run_evaluator, saved_model

WINDOW, HORIZON = 6, 3
ROLES = {"forecast": FORECAST}
RNG = np.random.default_rng(0)
PAST = RNG.normal(size=(20, WINDOW)).cumsum(axis=1)
FUTURE = PAST[:, -1:] + RNG.normal(size=(20, HORIZON)).cumsum(axis=1)


def test_metrics_match_numpy():
    prediction = FUTURE + RNG.normal(scale=0.3, size=FUTURE.shape)
    m = forecast_metrics(prediction, FUTURE, PAST)
    spread = FUTURE.std()
    assert m["nrmse"] == pytest.approx(np.sqrt(((prediction - FUTURE) ** 2).mean()) / spread)
    assert m["mae"] == pytest.approx(np.abs(prediction - FUTURE).mean())
    naive = np.repeat(PAST[:, -1:], HORIZON, axis=1)
    assert m["persistence_nrmse"] == pytest.approx(np.sqrt(((naive - FUTURE) ** 2).mean()) / spread)
    assert m["relative_nrmse"] == pytest.approx(m["nrmse"] / m["persistence_nrmse"])
    for k in range(HORIZON):
        assert m[f"nrmse_step_{k + 1}"] == pytest.approx(np.sqrt(((prediction[:, k] - FUTURE[:, k]) ** 2).mean())
                                                         / spread)
    perfect = forecast_metrics(FUTURE, FUTURE, PAST)
    assert perfect["nrmse"] == 0.0 and perfect["mae"] == 0.0
    with pytest.raises(ValueError, match="must both be"):
        forecast_metrics(FUTURE[:, :2], FUTURE, PAST)


class Forecaster(tf.Module):
    """``forecast`` is the truth plus ``noise`` (read from the example: a stand-in for a model
    ``noise`` away from perfect); ``forecast_bad`` is persistence: the evaluator must pick the
    signature by its role."""

    def __init__(self, noise: float) -> None:
        super().__init__()
        self.noise = noise

    def _parse(self, examples):
        return tf.io.parse_example(examples, {"past": tf.io.FixedLenFeature([WINDOW], tf.float32),
                                              "future": tf.io.FixedLenFeature([HORIZON], tf.float32)})

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string)])
    def forecast(self, examples):
        parsed = self._parse(examples)
        signs = tf.where(tf.range(HORIZON) % 2 == 0, 1.0, -1.0)
        return {"forecast": parsed["future"] + self.noise * signs}

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string)])
    def forecast_bad(self, examples):
        return {"forecast": tf.tile(self._parse(examples)["past"][:, -1:], [1, HORIZON])}


def _example(past, future) -> bytes:
    feature = {"past": tf.train.Feature(float_list=tf.train.FloatList(value=past)),
               "future": tf.train.Feature(float_list=tf.train.FloatList(value=future))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> standard_artifacts.Examples:
    return eval_examples(tmp_path_factory.mktemp("examples"), (_example(p, f) for p, f in zip(PAST, FUTURE)))


def _model(tmp_path, name: str, noise: float) -> standard_artifacts.Model:
    return saved_model(tmp_path / name, Forecaster(noise), ["forecast", "forecast_bad"])


def _do(tmp_path, examples, model, thresholds, baseline=None, roles=ROLES):
    run = run_evaluator(executor.Executor, tmp_path, examples, model, thresholds, roles, baseline,
                        past_key="past", future_key="future")
    return run.report, run.figures, run.evaluation, run.blessing


def test_served_forecasts_are_judged_and_blessed_by_thresholds(tmp_path, examples):
    model = _model(tmp_path, "close", noise=0.1)
    report, figures, evaluation, blessing = _do(tmp_path / "a", examples, model,
                                                {"nrmse": {"upper_bound": 0.2}, "relative_nrmse": {"upper_bound": 0.5}})
    signs = np.where(np.arange(HORIZON) % 2 == 0, 1.0, -1.0)
    want = forecast_metrics(FUTURE.astype(np.float32) + 0.1 * signs, FUTURE.astype(np.float32),
                            PAST.astype(np.float32))
    for name, value in want.items():
        assert report["metrics"][name] == pytest.approx(value, rel=1e-5), name
    assert report["metrics"]["mae"] == pytest.approx(0.1, rel=1e-4)
    assert report["blessed"] and blessing.get_int_custom_property("blessed") == 1
    assert evaluation.get_float_custom_property("metric:nrmse") == pytest.approx(want["nrmse"], rel=1e-5)

    report, _, _, blessing = _do(tmp_path / "b", examples, model, {"nrmse": {"upper_bound": 0.01}})
    assert not report["blessed"] and blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_string_custom_property("not_blessed_reasons").startswith("nrmse ")

    steps, windows = figures["forecast_error_by_step"], figures["forecast_vs_truth"]
    assert steps.kind == windows.kind == "table"
    assert [row[0] for row in steps.labels["rows"]] == ["1", "2", "3"]
    assert float(steps.labels["rows"][0][1]) == pytest.approx(want["nrmse_step_1"], abs=1e-4)
    first = windows.labels["rows"][0]
    assert first[:2] == ["0", "1"] and float(first[2]) == pytest.approx(FUTURE[0, 0], abs=1e-4)
    assert float(first[3]) == pytest.approx(FUTURE[0, 0] + 0.1, abs=1e-4)


def test_no_regression_against_the_blessed_baseline(tmp_path, examples):
    better, worse = _model(tmp_path, "better", noise=0.05), _model(tmp_path, "worse", noise=0.5)
    thresholds = {"no_regression": ["nrmse"]}
    report, _, _, blessing = _do(tmp_path / "a", examples, worse, thresholds, baseline=better)
    assert report["metrics"]["nrmse"] > report["baseline_metrics"]["nrmse"]
    assert not report["blessed"] and "worse than the blessed baseline" in \
        blessing.get_string_custom_property("not_blessed_reasons")
    report, _, _, blessing = _do(tmp_path / "b", examples, better, thresholds, baseline=worse)
    assert report["blessed"] and blessing.get_int_custom_property("blessed") == 1


def test_the_forecast_role_picks_the_signature(tmp_path, examples):
    model = _model(tmp_path, "model", noise=0.1)
    report, _, _, _ = _do(tmp_path / "a", examples, model, {}, roles={"forecast_bad": FORECAST})
    assert report["metrics"]["relative_nrmse"] == pytest.approx(1.0)  # persistence itself
    with pytest.raises(ValueError, match="no 'forecast' signature"):
        _do(tmp_path / "b", examples, model, {}, roles={"forecast": "classify"})


def test_component_checks_thresholds_when_built():
    model = channel_utils.as_channel([standard_artifacts.Model()])
    data = channel_utils.as_channel([standard_artifacts.Examples()])
    component = ForecastEvaluator(model=model, examples=data, signature_roles=ROLES,
                                  thresholds=[Threshold("nrmse", upper_bound=0.1, higher_is_better=False)])
    assert json.loads(component.exec_properties["thresholds"])["nrmse"] == {"upper_bound": 0.1}
    with pytest.raises(ValueError, match="unknown metric 'exact_match'"):
        ForecastEvaluator(model=model, examples=data, signature_roles=ROLES,
                          thresholds={"exact_match": {"lower_bound": 1.0}})
    with pytest.raises(ValueError, match="lower is better"):
        ForecastEvaluator(model=model, examples=data, signature_roles=ROLES,
                          thresholds=[Threshold("nrmse", upper_bound=0.1)])  # higher_is_better by default

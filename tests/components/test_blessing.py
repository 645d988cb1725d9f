"""The one blessing module: thresholds and directions, bounds, no regression (both
directions, with tolerance, none for the first model), the ModelBlessing as TFX's
Pusher and resolver read it, and the verdict recorded for ``zoo runs``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from components.evaluator import blessing, verdict
from components.evaluator.blessing import HIGHER, LOWER
from pipelines.config import Threshold

DIRECTIONS = {"auc": HIGHER, "fid": LOWER, "bleu": HIGHER}


def _validate(metrics, spec, baseline=None, directions=DIRECTIONS):
    return blessing.validate(metrics, blessing.parse_thresholds(spec, directions), baseline)


def test_bounds():
    spec = {"auc": {"lower_bound": 0.9}, "fid": {"upper_bound": 5.0}}
    assert _validate({"auc": 0.9, "fid": 5.0}, spec)[0]  # bounds are inclusive
    blessed, checks = _validate({"auc": 0.89, "fid": 5.0}, spec)
    assert not blessed and [c["ok"] for c in checks] == [False, True]  # sorted by metric: auc, fid
    assert blessing.failures(checks) == ["auc 0.8900 below the lower bound 0.9"]
    blessed, checks = _validate({"auc": 0.95, "fid": 5.5}, spec)
    assert not blessed and blessing.failures(checks) == ["fid 5.5000 above the upper bound 5"]
    assert not _validate({"auc": math.nan, "fid": 1.0}, spec)[0]  # NaN never passes
    both = {"auc": {"lower_bound": 0.5, "upper_bound": 0.99}}
    assert not _validate({"auc": 0.995}, both)[0] and _validate({"auc": 0.7}, both)[0]


@pytest.mark.parametrize("metric, direction, better, worse", [
    ("auc", HIGHER, 0.96, 0.93),   # higher is better: the baseline has 0.95
    ("fid", LOWER, 0.94, 0.97),    # lower is better: the baseline has 0.95
])
def test_no_regression_in_both_directions_with_tolerance(metric, direction, better, worse):
    assert DIRECTIONS[metric] == direction
    strict = {"no_regression": [metric]}
    baseline = {metric: 0.95}
    assert _validate({metric: better}, strict, baseline)[0]
    assert _validate({metric: 0.95}, strict, baseline)[0]  # a tie is no regression
    blessed, checks = _validate({metric: worse}, strict, baseline)
    assert not blessed and checks[0]["check"] == "no_regression" and checks[0]["baseline"] == 0.95
    assert blessing.failures(checks) == [f"{metric} {worse:.4f} worse than the blessed baseline's 0.9500"]
    # 0.02 worse: fails a 0.01 tolerance, passes a 0.03 one.
    assert not _validate({metric: worse}, {"no_regression": {metric: 0.01}}, baseline)[0]
    assert _validate({metric: worse}, {"no_regression": {metric: 0.03}}, baseline)[0]
    assert "by more than 0.01" in blessing.failures(
        _validate({metric: worse}, {"no_regression": {metric: 0.01}}, baseline)[1])[0]


def test_first_model_has_no_baseline_so_only_bounds_count():
    spec = [Threshold("fid", upper_bound=5.0, higher_is_better=False)]  # no_regression by default
    blessed, checks = _validate({"fid": 4.0}, spec)
    assert blessed and [c["check"] for c in checks] == ["upper_bound"]
    assert not _validate({"fid": 4.0}, spec, baseline={"fid": 3.0})[0]
    assert not _validate({"fid": 6.0}, spec)[0]


def test_config_thresholds_and_their_json_form():
    config = [Threshold("fid", upper_bound=5.0, higher_is_better=False),
              Threshold("auc", lower_bound=0.9, no_regression=False),
              Threshold("bleu", no_regression=True)]
    parsed = blessing.parse_thresholds(config, DIRECTIONS)
    assert parsed.bounds == {"fid": {"upper_bound": 5.0}, "auc": {"lower_bound": 0.9}}
    assert parsed.no_regression == {"fid": 0.0, "bleu": 0.0}
    assert parsed.higher_is_better == {"auc": True, "bleu": True, "fid": False}
    assert parsed.metrics == ["auc", "bleu", "fid"]
    assert blessing.parse_thresholds(parsed.to_json(), DIRECTIONS) == parsed
    assert blessing.parse_thresholds(json.loads(parsed.to_json()), DIRECTIONS) == parsed
    assert blessing.parse_thresholds(None, DIRECTIONS) == blessing.parse_thresholds("", DIRECTIONS)
    assert blessing.parse_thresholds(None, DIRECTIONS).metrics == []


def test_unknown_metric_direction_mismatch_and_malformed_thresholds():
    with pytest.raises(ValueError, match="unknown metric 'accuracy' in thresholds; choices: auc, bleu, fid"):
        blessing.parse_thresholds([Threshold("accuracy", lower_bound=0.9)], DIRECTIONS)
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        blessing.parse_thresholds({"no_regression": ["accuracy"]}, DIRECTIONS)
    with pytest.raises(ValueError, match="threshold on 'fid' has higher_is_better=True, but for the evaluator "
                                         "lower is better"):
        blessing.parse_thresholds([Threshold("fid", upper_bound=5.0)], DIRECTIONS)
    with pytest.raises(ValueError, match="higher_is_better=False"):
        blessing.parse_thresholds({"auc": {"lower_bound": 0.5}, "higher_is_better": {"auc": False}}, DIRECTIONS)
    with pytest.raises(ValueError, match="upper_bound"):
        blessing.parse_thresholds({"fid": {"below": 3}}, DIRECTIONS)
    with pytest.raises(ValueError, match="two thresholds on 'fid'"):
        blessing.parse_thresholds([Threshold("fid", higher_is_better=False),
                                   Threshold("fid", upper_bound=1.0, higher_is_better=False)], DIRECTIONS)
    with pytest.raises(ValueError, match=">= 0"):
        blessing.parse_thresholds({"no_regression": {"fid": -1.0}}, DIRECTIONS)
    with pytest.raises(ValueError, match=r"metric\(s\) \['fid'\] this model does not have"):
        _validate({"auc": 1.0}, {"fid": {"upper_bound": 1.0}})


def test_any_metric_takes_the_thresholds_direction_but_checks_known_ones():
    # TFMA computes metrics the project does not list: their direction is the threshold's.
    parsed = blessing.parse_thresholds([Threshold("mean_squared_error_x", upper_bound=1.0, higher_is_better=False)],
                                       DIRECTIONS, any_metric=True)
    assert parsed.higher_is_better == {"mean_squared_error_x": False}
    assert not blessing.validate({"mean_squared_error_x": 2.0}, parsed, {"mean_squared_error_x": 1.5})[0]
    assert blessing.validate({"mean_squared_error_x": 0.5}, parsed, {"mean_squared_error_x": 0.6})[0]
    with pytest.raises(ValueError, match="lower is better"):
        blessing.parse_thresholds([Threshold("fid", upper_bound=1.0)], DIRECTIONS, any_metric=True)


# ------------------------------------------------------------------- artifacts

tfx = pytest.importorskip("tfx")
from tfx.components.evaluator import constants  # noqa: E402  (after importorskip)
from tfx.components.pusher import executor as pusher_executor  # noqa: E402
from tfx.components.util import model_utils  # noqa: E402
from tfx.types import standard_artifacts  # noqa: E402


def _models():
    current, baseline = standard_artifacts.Model(), standard_artifacts.Model()
    current.uri, baseline.uri = "/models/7", "/models/3"
    current.id, baseline.id = 7, 3
    return current, baseline


@pytest.mark.parametrize("blessed", [True, False])
def test_blessing_is_what_tfx_reads(tmp_path, blessed):
    current, baseline = _models()
    artifact = standard_artifacts.ModelBlessing()
    artifact.uri = str(tmp_path)
    blessing.write_blessing(artifact, blessed, current, baseline)
    assert model_utils.is_model_blessed(artifact) is blessed
    assert pusher_executor.Executor().CheckBlessing({"model_blessing": [artifact]}) is blessed
    assert artifact.get_int_custom_property("blessed") == int(blessed)
    assert os.listdir(tmp_path) == [constants.BLESSED_FILE_NAME if blessed else constants.NOT_BLESSED_FILE_NAME]
    # What TFX's LatestBlessedModelStrategy and the report read: the models judged.
    assert artifact.get_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY) == 7
    assert artifact.get_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY) == "/models/7"
    assert artifact.get_int_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY) == 3
    assert artifact.get_string_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY) == "/models/3"


def test_first_blessing_names_no_baseline(tmp_path):
    current, _ = _models()
    artifact = standard_artifacts.ModelBlessing()
    artifact.uri = str(tmp_path)
    blessing.write_blessing(artifact, True, current)
    assert not artifact.has_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY)
    assert model_utils.is_model_blessed(artifact)


def test_verdict_recorded_for_zoo_runs(tmp_path):
    evaluation, artifact = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    blessing.record_verdict(evaluation, artifact, {"auc": 0.8, "fid": math.nan, "bleu": 1}, ["a", "b"])
    assert evaluation.get_float_custom_property("metric:auc") == pytest.approx(0.8)
    assert evaluation.get_float_custom_property("metric:bleu") == 1.0
    assert not evaluation.has_custom_property("metric:fid")  # NaN is not recorded
    assert artifact.get_string_custom_property("not_blessed_reasons") == "a; b"
    # pipelines/runs.py reads these names from components.evaluator.verdict.
    assert (verdict.METRIC_PREFIX, verdict.NOT_BLESSED_REASONS) == ("metric:", "not_blessed_reasons")
    assert verdict.record_verdict is blessing.record_verdict

    path = blessing.write_metrics(str(tmp_path), {"auc": 0.8}, blessed=False, checks=[{"metric": "auc", "ok": False}],
                                  reasons=["auc low"], reference="x")
    assert path == os.path.join(str(tmp_path), "metrics.json")
    assert blessing.read_metrics(str(tmp_path)) == {
        "metrics": {"auc": 0.8}, "baseline_metrics": None, "checks": [{"metric": "auc", "ok": False}],
        "blessed": False, "not_blessed_reasons": ["auc low"], "reference": "x"}
    assert blessing.read_metrics(str(tmp_path / "none")) is None


def test_blessing_module_imports_no_tfx_or_tensorflow():
    code = ("import sys, components.evaluator.blessing, components.evaluator.verdict; "
            "print(sorted(m for m in ('tfx', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert out.stdout.strip() == "[]"

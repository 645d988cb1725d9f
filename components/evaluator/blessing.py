"""Blessing: thresholds, metric directions, no regression, the verdict and its record.

Every evaluator of the project (TFMA's wrapper, the generative and seq2seq
evaluators, and those to come) judges a candidate model with this module:

* each evaluator declares its metrics and their directions (``{metric:
  HIGHER}`` or ``LOWER`` is better);
* :func:`parse_thresholds` reads the pipeline's thresholds (the
  ``pipelines.config.Threshold`` tuples, or their JSON form) against those
  directions: an unknown metric or a direction that contradicts the metric's
  fails when the pipeline is built;
* :func:`validate` checks bounds and, when a baseline (the last blessed model)
  was evaluated, no regression within a tolerance; :func:`describe_failure`
  says in one line why a check failed;
* :func:`write_blessing` writes the ``ModelBlessing`` exactly as TFX's
  Evaluator does (the ``blessed`` int property the Pusher reads, the
  ``BLESSED``/``NOT_BLESSED`` file, the current and baseline model ids the
  latest-blessed-model resolver reads), :func:`record_verdict` the metrics and
  reasons that ``zoo runs`` reads from ML Metadata, :func:`write_metrics` the
  ``metrics.json`` of the evaluation artifact.

Plain code: TFX is imported only by :func:`write_blessing`.

Example:

>>> t = parse_thresholds({"fid": {"upper_bound": 5}, "no_regression": ["fid"]}, {"fid": LOWER})
>>> validate({"fid": 3.0}, t)[0], validate({"fid": 3.0}, t, baseline={"fid": 2.0})[0]
(True, False)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

HIGHER = True   # higher is better
LOWER = False   # lower is better

METRIC_PREFIX = "metric:"
NOT_BLESSED_REASONS = "not_blessed_reasons"
METRICS_FILE = "metrics.json"

BOUNDS = ("lower_bound", "upper_bound")
# The no-regression tolerance when none is given: an exact tie passes.
DEFAULT_TOLERANCE = 0.0


def direction_name(higher_is_better: bool) -> str:
    return "higher" if higher_is_better else "lower"


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """What blesses a model.

    Attributes:
        bounds: ``{metric: {"lower_bound"|"upper_bound": value}}``.
        no_regression: ``{metric: tolerance}``: the metric may be worse than the
            baseline's by at most ``tolerance``.
        higher_is_better: the direction of every metric named above.
    """

    bounds: Mapping[str, Mapping[str, float]] = dataclasses.field(default_factory=dict)
    no_regression: Mapping[str, float] = dataclasses.field(default_factory=dict)
    higher_is_better: Mapping[str, bool] = dataclasses.field(default_factory=dict)

    @property
    def metrics(self) -> list[str]:
        """Every metric named, sorted."""
        return sorted(set(self.bounds) | set(self.no_regression))

    def to_json(self) -> str:
        """The JSON form :func:`parse_thresholds` reads back (an exec property)."""
        return json.dumps({**{name: dict(bound) for name, bound in sorted(self.bounds.items())},
                           "no_regression": dict(sorted(self.no_regression.items())),
                           "higher_is_better": dict(sorted(self.higher_is_better.items()))}, sort_keys=True)


def _check_direction(metric: str, higher_is_better: bool, directions: Mapping[str, bool]) -> None:
    if metric in directions and bool(higher_is_better) != directions[metric]:
        raise ValueError(f"threshold on '{metric}' has higher_is_better={bool(higher_is_better)}, but for the "
                         f"evaluator {direction_name(directions[metric])} is better")


def _from_config(thresholds: Iterable[Any]) -> dict[str, Any]:
    """The JSON form of ``pipelines.config.Threshold``-like objects (``metric``, ``lower_bound``,
    ``upper_bound``, ``no_regression``, ``higher_is_better``)."""
    spec: dict[str, Any] = {"no_regression": {}, "higher_is_better": {}}
    for t in thresholds:
        if t.metric in spec["higher_is_better"]:
            raise ValueError(f"two thresholds on '{t.metric}'")
        spec[t.metric] = {k: v for k, v in (("lower_bound", t.lower_bound), ("upper_bound", t.upper_bound))
                          if v is not None}
        if not spec[t.metric]:
            del spec[t.metric]
        if t.no_regression:
            spec["no_regression"][t.metric] = DEFAULT_TOLERANCE
        spec["higher_is_better"][t.metric] = bool(t.higher_is_better)
    return spec


def parse_thresholds(spec: str | Mapping[str, Any] | Sequence[Any] | None, directions: Mapping[str, bool],
                     *, any_metric: bool = False) -> Thresholds:
    """Reads thresholds and checks them against an evaluator's metric ``directions``.

    ``spec`` is a sequence of ``pipelines.config.Threshold``, or the JSON form
    (a string or a dict)::

        {"<metric>": {"lower_bound"|"upper_bound": value},
         "no_regression": ["<metric>", ...] | {"<metric>": tolerance},
         "higher_is_better": {"<metric>": bool}}            # optional

    A metric not in ``directions`` is an error unless ``any_metric`` (TFMA
    computes metrics the project does not list; their direction is then the
    threshold's own, ``HIGHER`` by default); a direction that contradicts
    ``directions`` is always an error.

    >>> parse_thresholds('{"fid": {"upper_bound": 5}, "no_regression": ["fid"]}', {"fid": LOWER})
    Thresholds(bounds={'fid': {'upper_bound': 5.0}}, no_regression={'fid': 0.0}, higher_is_better={'fid': False})
    >>> parse_thresholds({"fid": {"upper_bound": 5}}, {"exact_match": HIGHER})
    Traceback (most recent call last):
    ValueError: unknown metric 'fid' in thresholds; choices: exact_match
    """
    if isinstance(spec, str):
        spec = json.loads(spec) if spec.strip() else {}
    elif spec is None:
        spec = {}
    elif not isinstance(spec, Mapping):
        spec = _from_config(spec)
    spec = dict(spec)
    regression = spec.pop("no_regression", None) or {}
    if isinstance(regression, (list, tuple)):
        regression = {name: DEFAULT_TOLERANCE for name in regression}
    given = dict(spec.pop("higher_is_better", None) or {})

    bounds = {}
    for name, bound in spec.items():
        if not isinstance(bound, Mapping) or not bound or set(bound) - set(BOUNDS):
            raise ValueError(f"threshold for '{name}' must be {{'upper_bound'|'lower_bound': value}}; got {bound!r}")
        bounds[name] = {key: float(value) for key, value in bound.items()}
    named = set(bounds) | set(regression)
    unknown = sorted(named - set(directions)) if not any_metric else []
    if unknown:
        raise ValueError(f"unknown metric '{unknown[0]}' in thresholds; choices: {', '.join(sorted(directions))}")
    higher_is_better = {}
    for name in sorted(named):
        if name in given:
            _check_direction(name, given[name], directions)
        higher_is_better[name] = directions.get(name, bool(given.get(name, HIGHER)))
    for name, tolerance in regression.items():
        if float(tolerance) < 0:
            raise ValueError(f"no-regression tolerance of '{name}' must be >= 0; got {tolerance}")
    return Thresholds(bounds, {name: float(tol) for name, tol in regression.items()}, higher_is_better)


def validate(metrics: Mapping[str, float], thresholds: Thresholds,
             baseline: Mapping[str, float] | None = None) -> tuple[bool, list[dict[str, Any]]]:
    """Checks ``metrics`` against the bounds and, when a ``baseline`` is given,
    against the baseline's values (the first model of a pipeline has none and
    passes its no-regression checks). Returns ``(blessed, checks)``.

    A metric that is NaN fails every check on it.

    >>> t = parse_thresholds({"auc": {"lower_bound": 0.9}, "no_regression": {"auc": 0.01}}, {"auc": HIGHER})
    >>> [validate({"auc": v}, t, {"auc": 0.95})[0] for v in (0.94, 0.93, 0.85)]
    [True, False, False]
    """
    missing = sorted(set(thresholds.metrics) - set(metrics))
    if missing:
        raise ValueError(f"thresholds name metric(s) {missing} this model does not have; it has {sorted(metrics)}")
    checks: list[dict[str, Any]] = []
    for name, bound in sorted(thresholds.bounds.items()):
        value = float(metrics[name])
        if "upper_bound" in bound:
            checks.append({"metric": name, "check": "upper_bound", "value": value,
                           "bound": bound["upper_bound"], "ok": value <= bound["upper_bound"]})
        if "lower_bound" in bound:
            checks.append({"metric": name, "check": "lower_bound", "value": value,
                           "bound": bound["lower_bound"], "ok": value >= bound["lower_bound"]})
    if baseline is not None:
        for name, tolerance in sorted(thresholds.no_regression.items()):
            value, reference = float(metrics[name]), float(baseline[name])
            if thresholds.higher_is_better[name]:
                ok = value >= reference - tolerance
            else:
                ok = value <= reference + tolerance
            checks.append({"metric": name, "check": "no_regression", "value": value, "baseline": reference,
                           "tolerance": tolerance, "higher_is_better": thresholds.higher_is_better[name],
                           "ok": ok})
    for check in checks:
        check["ok"] = bool(check["ok"])
    return all(check["ok"] for check in checks), checks


def describe_failure(check: Mapping[str, Any]) -> str:
    """One line for a failed check from :func:`validate`.

    >>> describe_failure({"metric": "fid", "check": "upper_bound", "value": 7.5, "bound": 5.0})
    'fid 7.5000 above the upper bound 5'
    """
    if check["check"] == "no_regression":
        tolerance = f" by more than {check['tolerance']:g}" if check.get("tolerance") else ""
        return (f"{check['metric']} {check['value']:.4f} worse than the blessed baseline's "
                f"{check['baseline']:.4f}{tolerance}")
    side = "below the lower" if check["check"] == "lower_bound" else "above the upper"
    return f"{check['metric']} {check['value']:.4f} {side} bound {check['bound']:g}"


def failures(checks: Iterable[Mapping[str, Any]]) -> list[str]:
    """:func:`describe_failure` of every failed check."""
    return [describe_failure(c) for c in checks if not c["ok"]]


def write_blessing(blessing: Any, blessed: bool, current: Any, baseline: Any | None = None) -> None:
    """Writes the TFX ``ModelBlessing`` artifact ``blessing`` exactly as TFX's
    Evaluator does: ``current_model``/``current_model_id`` (and the baseline's),
    an empty ``BLESSED`` or ``NOT_BLESSED`` file, and the ``blessed`` int
    property (1 or 0) that the Pusher reads (``model_utils.is_model_blessed``).
    """
    from tfx.components.evaluator import constants
    from tfx.utils import io_utils

    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, current.uri)
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, current.id)
    if baseline is not None:
        blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY, baseline.uri)
        blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY, baseline.id)
    name = constants.BLESSED_FILE_NAME if blessed else constants.NOT_BLESSED_FILE_NAME
    io_utils.write_string_file(os.path.join(blessing.uri, name), "")
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY,
                                     constants.BLESSED_VALUE if blessed else constants.NOT_BLESSED_VALUE)


def record_verdict(evaluation: Any, blessing: Any | None, metrics: Mapping[str, float],
                   reasons: Iterable[str]) -> None:
    """Records the verdict in ML Metadata (read by ``pipelines/runs.py``): the
    candidate's metrics as float custom properties ``metric:<name>`` of the
    ``evaluation`` artifact, the reasons for not blessing as the ``blessing``
    artifact's ``not_blessed_reasons`` string (empty when blessed)."""
    for name, value in metrics.items():
        if value is not None and not math.isnan(float(value)):
            evaluation.set_float_custom_property(METRIC_PREFIX + name, float(value))
    if blessing is not None:
        blessing.set_string_custom_property(NOT_BLESSED_REASONS, "; ".join(reasons))


def is_candidate(baseline: Any, candidate: Any) -> bool:
    """Whether the resolved baseline is the candidate itself (a re-run whose Trainer
    was cached): no regression against itself holds without evaluating it twice."""
    return baseline is not None and (baseline.id == candidate.id and bool(candidate.id)
                                     or baseline.uri == candidate.uri)


def write_metrics(folder: str, metrics: Mapping[str, float], *, blessed: bool | None,
                  checks: Sequence[Mapping[str, Any]] = (), baseline: Mapping[str, float] | None = None,
                  reasons: Sequence[str] = (), **extra: Any) -> str:
    """Writes ``<folder>/metrics.json``: ``metrics``, ``baseline_metrics``,
    ``checks``, ``blessed``, ``not_blessed_reasons`` and any ``extra`` entries;
    returns its path."""
    report = {"metrics": dict(metrics), "baseline_metrics": dict(baseline) if baseline is not None else None,
              "checks": [dict(c) for c in checks], "blessed": blessed, "not_blessed_reasons": list(reasons),
              **extra}
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, METRICS_FILE)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    return path


def read_metrics(folder: str) -> dict[str, Any] | None:
    """What :func:`write_metrics` wrote into ``folder``; ``None`` when nothing."""
    path = os.path.join(folder, METRICS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)

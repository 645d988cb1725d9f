"""The shared half of the project's own evaluators: spec, component and executor.

An evaluator is a subclass of :class:`EvaluatorExecutor` that declares its
metrics (``METRICS``: name -> higher is better) and implements
``evaluate(model, examples, params) -> metrics`` (and, for the report,
``figures``); the flow is written once, here:

    read the eval split -> evaluate the candidate -> evaluate the baseline
    (the last blessed model, when a no-regression threshold needs it) ->
    validate (``blessing``) -> write the figures and ``metrics.json`` into the
    ``evaluation`` artifact -> write the ``blessing`` exactly as TFX's
    Evaluator does -> record the verdict in ML Metadata

and its component is a subclass of :class:`EvaluatorComponent` with the
parameters it adds. Thresholds are parsed against ``METRICS`` when the
component is built, so an unknown metric or a contradicting direction fails
when the pipeline is built, not when it runs.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from absl import logging
from tfx import types
from tfx.dsl.components.base import base_component, base_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components import artifacts
from components.evaluator import blessing
from components.evaluator.served import ServedModel
from components.figures import Figure, write_figures
from models.base import ROLES

DEFAULT_SPLIT = "eval"


def as_json(value: Any) -> str:
    """``value`` as an exec property: a string is taken as JSON already."""
    return value if isinstance(value, str) else json.dumps(value)


def exec_property(exec_properties: Mapping[str, Any], key: str, default: Any) -> Any:
    """``exec_properties[key]``, or ``default`` where it is absent, ``None`` or empty."""
    value = exec_properties.get(key)
    return default if value in (None, "") else value


def json_property(exec_properties: Mapping[str, Any], key: str, default: Any) -> Any:
    """A JSON exec property, decoded; ``default`` where it is absent."""
    value = exec_property(exec_properties, key, None)
    return default if value is None else (json.loads(value) if isinstance(value, str) else value)


class EvaluatorSpec(ComponentSpec):
    """Inputs and outputs of every evaluator (those of TFX's Evaluator) and the
    parameters they share; subclasses add their own ``PARAMETERS``."""

    PARAMETERS: ClassVar[dict[str, ExecutionParameter]] = {
        "thresholds": ExecutionParameter(type=str),
        "signature_roles": ExecutionParameter(type=str, optional=True),
        "example_split": ExecutionParameter(type=str, optional=True),
    }
    INPUTS: ClassVar[dict[str, ChannelParameter]] = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "baseline_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS: ClassVar[dict[str, ChannelParameter]] = {
        "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        "blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
    }


class EvaluatorComponent(base_component.BaseComponent):
    """Base of the evaluator components: subclasses set ``SPEC_CLASS`` (an
    :class:`EvaluatorSpec`) and ``EXECUTOR_SPEC`` (an :class:`EvaluatorExecutor`).

    Args:
        model: the Trainer's model (SavedModel under ``<uri>/Format-Serving``).
        examples: the raw Examples; ``example_split`` is judged.
        thresholds: ``pipelines.config.Threshold`` tuples or their JSON form
            (see :func:`components.evaluator.blessing.parse_thresholds`).
        signature_roles: the family's signature name -> role.
        baseline_model: the last blessed model, for no-regression checks.
        parameters: the subclass's own exec properties (mappings go as JSON).
    """

    def __init__(self, model: types.BaseChannel, examples: types.BaseChannel, *,
                 thresholds: Any, signature_roles: Mapping[str, str] | None = None,
                 baseline_model: types.BaseChannel | None = None, example_split: str = DEFAULT_SPLIT,
                 **parameters: Any) -> None:
        executor_class = self.EXECUTOR_SPEC.executor_class
        parsed = blessing.parse_thresholds(thresholds, executor_class.METRICS)  # fails when the pipeline is built
        roles = dict(signature_roles or {})
        bad = sorted(set(roles.values()) - set(ROLES))
        if bad:
            raise ValueError(f"unknown signature role(s) {bad}; known: {', '.join(ROLES)}")
        parameters = {k: as_json(v) if isinstance(v, (Mapping, list, tuple)) else v for k, v in parameters.items()}
        super().__init__(spec=self.SPEC_CLASS(
            model=model, examples=examples, baseline_model=baseline_model, thresholds=parsed.to_json(),
            signature_roles=json.dumps(roles), example_split=example_split, **parameters,
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing)))


class EvaluatorExecutor(base_executor.BaseExecutor):
    """The shared executor flow (see the module docstring). Subclasses set
    ``METRICS`` and implement :meth:`evaluate`; they may override
    :meth:`parameters`, :meth:`figures` and :meth:`notes`."""

    # Metric name -> True when higher is better: the metrics thresholds may name.
    METRICS: ClassVar[Mapping[str, bool]] = {}

    def parameters(self, exec_properties: Mapping[str, Any]) -> dict[str, Any]:
        """The subclass's parameters, read from its exec properties."""
        return {}

    @abc.abstractmethod
    def evaluate(self, model: ServedModel, examples: Sequence[bytes], params: Mapping[str, Any]) -> dict[str, float]:
        """The metrics of ``model`` on the serialized eval ``examples``."""

    def figures(self, model: ServedModel, examples: Sequence[bytes], params: Mapping[str, Any]) -> list[Figure]:
        """What the report shows of the candidate ``model`` (cheap: a few hundred examples at most)."""
        return []

    def notes(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Extra entries of ``metrics.json`` (after the evaluations)."""
        return {}

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        thresholds = blessing.parse_thresholds(exec_property(exec_properties, "thresholds", None), self.METRICS)
        roles = json_property(exec_properties, "signature_roles", {})
        params = self.parameters(exec_properties)
        split = exec_property(exec_properties, "example_split", DEFAULT_SPLIT)
        examples = artifacts.read_split(artifact_utils.get_single_instance(input_dict["examples"]).uri, split)

        current = artifact_utils.get_single_instance(input_dict["model"])
        model = ServedModel(artifacts.serving_model_dir(current.uri), roles)
        metrics = self.evaluate(model, examples, params)
        baseline = (input_dict.get("baseline_model") or [None])[0]
        baseline_metrics = None
        if baseline is not None and thresholds.no_regression:
            baseline_metrics = (dict(metrics) if blessing.is_candidate(baseline, current) else
                                self.evaluate(ServedModel(artifacts.serving_model_dir(baseline.uri), roles),
                                              examples, params))
        blessed, checks = blessing.validate(metrics, thresholds, baseline_metrics)
        reasons = blessing.failures(checks)
        logging.info("%s: %s; baseline %s; blessed=%s %s", type(self).__module__, metrics, baseline_metrics,
                     blessed, reasons)

        evaluation = artifact_utils.get_single_instance(output_dict["evaluation"])
        write_figures(evaluation.uri, self._figures(model, examples, params))
        blessing.write_metrics(evaluation.uri, metrics, blessed=blessed, checks=checks, baseline=baseline_metrics,
                               reasons=reasons, **self.notes(params))
        verdict = artifact_utils.get_single_instance(output_dict["blessing"])
        blessing.write_blessing(verdict, blessed, current, baseline)
        blessing.record_verdict(evaluation, verdict, metrics, reasons)

    def _figures(self, model: ServedModel, examples: Sequence[bytes], params: Mapping[str, Any]) -> list[Figure]:
        """:meth:`figures`; a failure is logged and leaves the report without them, never fails the run."""
        try:
            return self.figures(model, examples, params)
        except Exception:  # the verdict stands without its figures
            logging.exception("%s: the report's figures could not be computed", type(self).__module__)
            return []

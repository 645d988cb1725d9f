"""ExampleValidator that fails its execution when the data has anomalies.

TFX's stock ExampleValidator records anomalies and lets the pipeline go on to
train on the bad data. This one records them the same way (the ``anomalies``
output files are written first) and then raises :class:`DataValidationError`
with a one-line summary, so the run stops before Transform and Trainer. Make
Transform depend on it (``transform.add_upstream_node(validator)``).
"""

from __future__ import annotations

from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.components.example_validator import component as stock_component
from tfx.components.example_validator import executor as stock_executor
from tfx.dsl.components.base import executor_spec


class DataValidationError(RuntimeError):
    """The examples do not match the schema; the message names every anomaly."""


def summarize(anomalies: anomalies_pb2.Anomalies) -> list[str]:
    """``"feature 'x': short description"`` for each anomaly."""
    lines = [f"feature '{name}': {info.short_description or info.description}"
             for name, info in sorted(anomalies.anomaly_info.items())]
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        lines.append(f"dataset: {info.short_description or info.description}")
    return lines


class Executor(stock_executor.Executor):
    def Do(self, input_dict: dict[str, Any], output_dict: dict[str, Any], exec_properties: dict[str, Any]) -> Any:
        self._found: list[str] = []
        result = super().Do(input_dict, output_dict, exec_properties)
        if self._found:
            raise DataValidationError("data anomalies: " + "; ".join(self._found))
        return result

    def _Validate(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> anomalies_pb2.Anomalies:
        anomalies = super()._Validate(inputs, outputs)
        split = str(outputs.get("schema_diff_path", "")).rsplit("Split-", 1)[-1]
        self._found.extend(f"split '{split}' {line}" for line in summarize(anomalies))
        return anomalies


class StrictExampleValidator(stock_component.ExampleValidator):
    """``ExampleValidator`` whose execution fails on any anomaly."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

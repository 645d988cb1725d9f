"""Past pipeline runs, read from the ML Metadata store.

Every fact here comes from MLMD: the run's executions (state and timing per
component), the Evaluator's metrics and verdict (recorded by
``components.evaluator``) and the Pusher's outcome. Imports ``ml_metadata``
only, not TFX or TensorFlow, so ``zoo runs`` answers quickly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.evaluator.verdict import METRIC_PREFIX, NOT_BLESSED_REASONS
from pipelines import nodes

STATES = {
    metadata_store_pb2.Execution.COMPLETE: "ran",
    metadata_store_pb2.Execution.CACHED: "cached",
    metadata_store_pb2.Execution.FAILED: "failed",
    metadata_store_pb2.Execution.RUNNING: "running",
    metadata_store_pb2.Execution.NEW: "new",
    metadata_store_pb2.Execution.CANCELED: "canceled",
}


@dataclasses.dataclass
class Step:
    node: str
    state: str
    seconds: float
    outputs: dict[str, list[metadata_store_pb2.Artifact]]


@dataclasses.dataclass
class RunRecord:
    pipeline: str
    run_id: str
    started: float  # unix seconds
    steps: list[Step]

    @property
    def status(self) -> str:
        states = {s.state for s in self.steps}
        if "failed" in states:
            return "failed"
        if states <= {"ran", "cached"}:
            return "succeeded"
        return "incomplete"

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    def step(self, node: str) -> Step | None:
        return next((s for s in self.steps if s.node == node), None)

    def output(self, node: str, key: str) -> metadata_store_pb2.Artifact | None:
        step = self.step(node)
        artifacts = step.outputs.get(key) if step else None
        return artifacts[0] if artifacts else None

    @property
    def metrics(self) -> dict[str, float]:
        evaluation = self.output(nodes.EVALUATOR, "evaluation")
        if evaluation is None:
            return {}
        return {k.removeprefix(METRIC_PREFIX): v.double_value for k, v in evaluation.custom_properties.items()
                if k.startswith(METRIC_PREFIX)}

    @property
    def blessed(self) -> bool | None:
        blessing = self.output(nodes.EVALUATOR, "blessing")
        return None if blessing is None else bool(_prop(blessing, "blessed"))

    @property
    def not_blessed_reasons(self) -> str:
        blessing = self.output(nodes.EVALUATOR, "blessing")
        return str(_prop(blessing, NOT_BLESSED_REASONS) or "") if blessing else ""

    @property
    def push(self) -> dict[str, Any]:
        pushed = self.output(nodes.PUSHER, "pushed_model")
        if pushed is None:
            return {}
        return {k: _prop(pushed, k) for k in ("pushed", "pushed_version", "pushed_destination", "push_reason")}


def _prop(artifact: metadata_store_pb2.Artifact, key: str) -> Any:
    if key not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[key]
    return getattr(value, value.WhichOneof("value"))


def open_store(metadata: str | metadata_store_pb2.ConnectionConfig) -> metadata_store.MetadataStore:
    """The store, read-only: a SQLite file's path or a ``ConnectionConfig`` (MySQL, see ``pipelines.metadata``)."""
    from pipelines.metadata import open_store as open_

    return open_(metadata, read_only=True)


def _node_name(store: metadata_store.MetadataStore, execution_id: int) -> str:
    for context in store.get_contexts_by_execution(execution_id):
        if context.type == "node":
            return context.name.split(".", 1)[-1]
    return "?"


def load_runs(metadata: str | metadata_store_pb2.ConnectionConfig, pipeline: str | None = None) -> list[RunRecord]:
    """All runs in the store (a SQLite file's path or a ``ConnectionConfig``), oldest first;
    only ``pipeline``'s when given."""
    store = open_store(metadata)
    node_type_ids = {t.id: t.name for t in store.get_context_types()}
    runs = []
    for context in store.get_contexts_by_type("pipeline_run"):
        executions = store.get_executions_by_context(context.id)
        if not executions:
            continue
        pipeline_name = next((c.name for c in store.get_contexts_by_execution(executions[0].id)
                              if node_type_ids.get(c.type_id) == "pipeline"), "?")
        if pipeline is not None and pipeline_name != pipeline:
            continue
        events = store.get_events_by_execution_ids([e.id for e in executions])
        artifact_ids = {e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT}
        artifacts = {a.id: a for a in store.get_artifacts_by_id(list(artifact_ids))}
        steps = []
        for execution in sorted(executions, key=lambda e: e.create_time_since_epoch):
            outputs: dict[str, list[metadata_store_pb2.Artifact]] = {}
            for event in events:
                if event.execution_id == execution.id and event.type == metadata_store_pb2.Event.OUTPUT:
                    key = event.path.steps[0].key if event.path.steps else "?"
                    outputs.setdefault(key, []).append(artifacts[event.artifact_id])
            seconds = (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
            steps.append(Step(_node_name(store, execution.id), STATES.get(execution.last_known_state, "?"),
                              seconds, outputs))
        started = min(e.create_time_since_epoch for e in executions) / 1000
        runs.append(RunRecord(pipeline_name, context.name, started, steps))
    return sorted(runs, key=lambda r: r.started)


# ------------------------------------------------------------- scheduled firings


def load_firings(metadata: str | metadata_store_pb2.ConnectionConfig, pipeline: str | None = None,
                 runs_folder: str | None = None) -> list[dict[str, Any]]:
    """Scheduled firings (``zoo schedule``), oldest first: the store's ``zoo.ScheduledFiring`` executions
    (``pipelines.metadata``), and the lines of ``<runs_folder>/<pipeline>.scheduled.jsonl`` that older
    outputs hold. Each has ``pipeline``, ``trigger``, ``started``, ``seconds``, ``outcome`` (pushed / same
    model / no-op / not blessed / failed / timeout / skipped), ``reason`` and, when the run reached ML
    Metadata, ``run_id``."""
    from pipelines.metadata import SCHEDULED_FIRING, load_executions, read_jsonl

    rows = load_executions(metadata, SCHEDULED_FIRING, pipeline)
    if runs_folder:
        rows += read_jsonl(runs_folder, ".scheduled.jsonl", pipeline)
    return sorted(rows, key=lambda row: row["started"])


def firing_of(firings: list[dict[str, Any]], pipeline: str, started: float) -> dict[str, Any] | None:
    """The firing whose ``zoo run`` made the run of ``pipeline`` that began at ``started``
    (ML Metadata's runs and no-op records alike): the run began within the firing's time."""
    for firing in firings:
        if (firing["pipeline"] == pipeline and firing["outcome"] != "skipped"
                and firing["started"] <= started <= firing["started"] + firing.get("seconds", 0.0)):
            return firing
    return None

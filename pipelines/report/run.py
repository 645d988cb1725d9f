"""Section 1, the run: its status and timing, and the state and seconds of every component."""

from __future__ import annotations

import datetime

from pipelines.config import PipelineConfig
from pipelines.report.helpers import Raw, escape, table
from pipelines.runs import RunRecord


def section(record: RunRecord, config: PipelineConfig, folder: str) -> str:
    started = datetime.datetime.fromtimestamp(record.started).strftime("%Y-%m-%d %H:%M:%S")
    status_class = "ok" if record.status == "succeeded" else "bad"
    summary = table(None, [
        ["pipeline", record.pipeline],
        ["run id", record.run_id],
        ["status", Raw(f'<span class="{status_class}">{escape(record.status)}</span>')],
        ["started", started],
        ["component time", f"{record.seconds:.1f} s"],
    ])
    steps = table(["component", "state", "seconds"], [[s.node, s.state, f"{s.seconds:.1f}"] for s in record.steps])
    return summary + steps

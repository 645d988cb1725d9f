"""The last section, push: whether the Pusher pushed the model, where to, or why not."""

from __future__ import annotations

from pipelines import nodes
from pipelines.config import PipelineConfig
from pipelines.report.helpers import paragraph
from pipelines.runs import RunRecord


def section(record: RunRecord, config: PipelineConfig, folder: str) -> str:
    if record.step(nodes.PUSHER) is None:
        return ""
    push = record.push
    if not push:
        return paragraph("The Pusher recorded no outcome.", "bad")
    if push.get("pushed"):
        return paragraph(f"PUSHED version {push.get('pushed_version')} to {push.get('pushed_destination')}.", "ok")
    reason = push.get("push_reason") or record.not_blessed_reasons or "the model was not blessed"
    return paragraph(f"NOT PUSHED: {reason}.", "bad")

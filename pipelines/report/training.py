"""Section 3, training: the curves of the Trainer's ``history.json`` and the figures it wrote
(e.g. a DBN's RBM filters), both read from its ``model_run`` artifact."""

from __future__ import annotations

import json
import math
import os
from typing import Any

from components.trainer import HISTORY_FILE
from pipelines import nodes
from pipelines.config import PipelineConfig
from pipelines.report.figures import figures_html
from pipelines.report.helpers import canvas, image, paragraph, save, table
from pipelines.runs import RunRecord


def section(record: RunRecord, config: PipelineConfig, folder: str) -> str:
    model_run = record.output(nodes.TRAINER, "model_run")
    if model_run is None:
        return ""
    path = os.path.join(model_run.uri, HISTORY_FILE)
    parts = [history_html(path, folder)] if os.path.exists(path) else []
    parts.append(tensorboard_html(model_run.uri))
    parts.append(figures_html(model_run.uri, folder, "training"))
    return "\n".join(p for p in parts if p)


def tensorboard_html(model_run_uri: str) -> str:
    """How to open the Trainer's TensorBoard logs, where it wrote some."""
    if not any(name.startswith("events.out.tfevents") for _, _, files in os.walk(model_run_uri) for name in files):
        return ""
    return paragraph(f"TensorBoard logs: tensorboard --logdir {model_run_uri}")


def history_html(path: str, folder: str) -> str:
    """The family, its signatures, and a table and plot of each metric of ``history.json`` at ``path``."""
    with open(path, encoding="utf-8") as f:
        run = json.load(f)
    history = {k: v for k, v in run.get("history", {}).items() if v}
    parts = [paragraph(f"Model family {run.get('model', '?')}; signatures: {', '.join(run.get('signatures', []))}.")]
    if history:
        parts.append(table(["metric", "epochs", "final train", "final validation", "best validation"],
                           history_rows(history)))
        parts.append(image(plot_history(history, os.path.join(folder, "training.png"))))
    return "\n".join(parts)


def _curves(history: dict[str, list[float]]) -> list[str]:
    """Base metric names: ``loss``, ``accuracy``, ... (``val_x`` goes with ``x``).

    >>> _curves({"loss": [1.0], "val_loss": [2.0], "val_auc": [0.5]})
    ['loss', 'auc']
    """
    names = [k for k in history if not k.startswith("val_")]
    return names + [k[4:] for k in history if k.startswith("val_") and k[4:] not in history]


def history_rows(history: dict[str, list[float]]) -> list[list[Any]]:
    rows = []
    for name in _curves(history):
        train, val = history.get(name, []), history.get("val_" + name, [])
        lower_is_better = "loss" in name or "error" in name
        best = (min(val) if lower_is_better else max(val)) if val else ""
        rows.append([name, max(len(train), len(val)), train[-1] if train else "", val[-1] if val else "", best])
    return rows


def plot_history(history: dict[str, list[float]], path: str) -> str:
    names = _curves(history)
    columns = min(3, len(names))
    rows = math.ceil(len(names) / columns)
    drawing = canvas(4.2 * columns, 3.0 * rows)
    for i, name in enumerate(names):
        axes = drawing.add_subplot(rows, columns, i + 1)
        for key, label in ((name, "train"), ("val_" + name, "validation")):
            if history.get(key):
                axes.plot(range(1, len(history[key]) + 1), history[key], marker=".", label=label)
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return save(drawing, path)

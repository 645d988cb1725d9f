"""The HTML report of one pipeline run, written by every ``zoo run``.

:func:`write_report` reads the run's artifacts (found through its
:class:`~pipelines.runs.RunRecord`) and writes::

    <output>/reports/<pipeline>/<run id>/index.html
    <output>/reports/<pipeline>/<run id>/*.png

It renders what the components wrote and recomputes nothing: no model is
loaded, no example read. One module per section, each only shown where its
data exists (a run without an Evaluator has no evaluation section, a failed
run may stop after the data):

* ``run``: status, timing and the state of every component;
* ``data``: StatisticsGen's statistics, the label distribution, the ExampleValidator's anomalies;
* ``training``: the Trainer's ``history.json`` and the figures in its ``model_run``;
* ``evaluation``: the Evaluator's verdict and metrics and the figures in its ``evaluation``;
* ``push``: whether the model was pushed, and why (not).

Figures (``components/figures.py``) are drawn by ``figures``, by kind; the
HTML and PNG helpers are in ``helpers``. No TensorFlow, no TFX.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from pipelines.config import PipelineConfig
from pipelines.report import data, evaluation, push, run, training
from pipelines.report.helpers import escape, render_or_explain
from pipelines.runner import Paths
from pipelines.runs import RunRecord

INDEX = "index.html"

Section = Callable[[RunRecord, PipelineConfig, str], str]  # (record, config, report folder) -> HTML, "" if no data
SECTIONS: tuple[tuple[str, Section], ...] = (
    ("Run", run.section),
    ("Data", data.section),
    ("Training", training.section),
    ("Evaluation", evaluation.section),
    ("Push", push.section),
)

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1em; }}
th, td {{ border: 1px solid #ccc; padding: 2px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ background: #f0f0f0; }}
img {{ max-width: 100%; }}
.ok {{ color: #1a7f37; font-weight: bold; }}
.bad {{ color: #c62828; font-weight: bold; }}
.note {{ color: #666; }}
</style></head>
<body>
<h1>{title}</h1>
{body}
</body></html>
"""


def write_report(record: RunRecord, paths: Paths, config: PipelineConfig) -> str:
    """Writes the report of ``record``; returns the path of its ``index.html``."""
    folder = os.path.join(paths.reports(config.name), record.run_id.replace(":", "-"))
    os.makedirs(folder, exist_ok=True)
    body = "\n".join(_section(title, lambda render=render: render(record, config, folder))
                     for title, render in SECTIONS)
    path = os.path.join(folder, INDEX)
    with open(path, "w", encoding="utf-8") as f:
        f.write(PAGE.format(title=escape(f"Pipeline {record.pipeline}, run {record.run_id}"), body=body))
    return path


def _section(title: str, render: Callable[[], str]) -> str:
    """``<h2>title</h2>`` and the section; nothing where it has no data; why, where it failed."""
    content = render_or_explain(f"The {title.lower()} section", render)
    return f'<section id="{title.lower()}">\n<h2>{escape(title)}</h2>\n{content}\n</section>' if content else ""

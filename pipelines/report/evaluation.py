"""Section 4, evaluation: the Evaluator's verdict and metrics, as recorded in ML Metadata, the
baseline and checks of its ``metrics.json`` where it wrote one, and every figure it wrote into its
``evaluation`` artifact (confusion matrix, samples, scores ...). Nothing is recomputed here."""

from __future__ import annotations

from components.evaluator.blessing import read_metrics
from pipelines import nodes
from pipelines.config import PipelineConfig
from pipelines.report.figures import figures_html
from pipelines.report.helpers import heading, paragraph, render_or_explain, table
from pipelines.runs import RunRecord

# Written into the ``evaluation`` artifact by the generative and seq2seq evaluators:
# {"metrics": {...}, "baseline_metrics": {...} | null, "checks": [{"metric": ..., "ok": ...}], ...}.


def section(record: RunRecord, config: PipelineConfig, folder: str) -> str:
    evaluation = record.output(nodes.EVALUATOR, "evaluation")
    if evaluation is None:
        return ""
    parts = [verdict_html(record),
             render_or_explain(f"The metrics of {evaluation.uri}", lambda: metrics_html(record, evaluation.uri)),
             figures_html(evaluation.uri, folder, "evaluation")]
    return "\n".join(p for p in parts if p)


def verdict_html(record: RunRecord) -> str:
    if record.blessed is None:
        return paragraph("The Evaluator made no blessing decision (no thresholds).", "note")
    if record.blessed:
        return paragraph("BLESSED: the candidate model passed every threshold.", "ok")
    return paragraph(f"NOT BLESSED: {record.not_blessed_reasons or 'no reason recorded'}", "bad")


def metrics_html(record: RunRecord, uri: str) -> str:
    """A table of the candidate's metrics (ML Metadata's, then any only in ``metrics.json``), with
    the baseline's beside them where there was one, and a table of the evaluator's checks."""
    written = read_metrics(uri) or {}
    metrics = {**written.get("metrics", {}), **record.metrics}
    baseline = written.get("baseline_metrics") or {}
    parts = []
    if metrics:
        header = ["metric", "candidate"] + (["baseline"] if baseline else [])
        rows = [[name, value] + ([baseline.get(name)] if baseline else []) for name, value in sorted(metrics.items())]
        parts.append(table(header, rows))
    checks = written.get("checks") or []
    if checks:
        columns = list(dict.fromkeys(key for check in checks for key in check))
        parts.append(heading("Checks") + table(columns, [[check.get(c) for c in columns] for check in checks]))
    return "\n".join(parts)

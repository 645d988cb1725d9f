"""The HTML report of one pipeline run, written by every ``zoo run``.

``write_report`` reads the run's artifacts (found through its
:class:`~pipelines.runs.RunRecord`) and writes::

    <output>/reports/<pipeline>/<run id>/index.html
    <output>/reports/<pipeline>/<run id>/*.png

Sections, each only where its data exists (a generative run has no
confusion matrix, a failed run may stop after the data):

1. the run: status, timing, and the state of every component;
2. data: StatisticsGen's per-feature statistics, the label distribution and
   the ExampleValidator's verdict;
3. training: the curves of ``history.json`` written by the Trainer;
4. evaluation: the Evaluator's metrics, verdict and slices, and a confusion
   matrix of the candidate model on the eval split (classifiers);
5. push: whether the model was pushed, and why (not).

TensorFlow and TFMA are imported only by the functions that need them.
"""

from __future__ import annotations

import datetime
import glob
import html
import json
import logging
import math
import os
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from matplotlib.figure import Figure

from components.trainer import HISTORY_FILE
from pipelines.config import PipelineConfig
from pipelines.runner import Paths
from pipelines.runs import RunRecord

INDEX = "index.html"
EVAL_SPLIT = "eval"
MAX_EVAL_EXAMPLES = 10_000  # confusion matrix sample cap
PREDICTION_BATCH = 256

_PAGE = """<!DOCTYPE html>
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
    sections = [
        ("Run", lambda: run_section(record)),
        ("Data", lambda: data_section(record, config, folder)),
        ("Training", lambda: training_section(record, folder)),
        ("Evaluation", lambda: evaluation_section(record, config, folder)),
        ("Push", lambda: push_section(record)),
    ]
    body = "\n".join(_section(title, render) for title, render in sections)
    path = os.path.join(folder, INDEX)
    with open(path, "w", encoding="utf-8") as f:
        f.write(_PAGE.format(title=_e(f"Pipeline {record.pipeline}, run {record.run_id}"), body=body))
    return path


def _section(title: str, render: Callable[[], str]) -> str:
    """``<h2>title</h2>`` plus the section; nothing when it has no data.

    A section that cannot be rendered says why instead of failing the run's report.
    """
    try:
        content = render()
    except Exception as error:  # noqa: BLE001 (a broken artifact must not hide the other sections)
        logging.warning("report section %s failed", title, exc_info=True)
        content = _p(f"This section could not be rendered: {type(error).__name__}: {error}", "bad")
    return f'<section id="{title.lower()}">\n<h2>{_e(title)}</h2>\n{content}\n</section>' if content else ""


# ----------------------------------------------------------------------------- 1. run

def run_section(record: RunRecord) -> str:
    started = datetime.datetime.fromtimestamp(record.started).strftime("%Y-%m-%d %H:%M:%S")
    status_class = "ok" if record.status == "succeeded" else "bad"
    summary = _table(None, [
        ["pipeline", record.pipeline],
        ["run id", record.run_id],
        ["status", _Raw(f'<span class="{status_class}">{_e(record.status)}</span>')],
        ["started", started],
        ["component time", f"{record.seconds:.1f} s"],
    ])
    steps = _table(["component", "state", "seconds"],
                   [[s.node, s.state, f"{s.seconds:.1f}"] for s in record.steps])
    return summary + steps


# ----------------------------------------------------------------------------- 2. data

def data_section(record: RunRecord, config: PipelineConfig, folder: str) -> str:
    parts = []
    statistics = record.output("StatisticsGen", "statistics")
    if statistics is not None:
        stats = load_statistics(statistics.uri)
        for split, dataset in stats.items():
            parts.append(f"<h3>Split {_e(split)}: {dataset.num_examples} examples</h3>")
            parts.append(_table(["feature", "type", "count", "missing", "mean", "std", "min", "max", "unique"],
                                feature_rows(dataset)))
        if config.label_key:
            image = plot_label_distribution(stats, config.label_key, os.path.join(folder, "labels.png"))
            if image:
                parts.append(f"<h3>Label distribution ({_e(config.label_key)})</h3>" + _img(image))
    anomalies = record.output("ExampleValidator", "anomalies")
    if anomalies is not None:
        parts.append("<h3>Validation against the schema</h3>" + anomalies_html(load_anomalies(anomalies.uri)))
    return "\n".join(parts)


def _split_files(uri: str, filename: str) -> dict[str, str]:
    """``{split: path}`` of ``<uri>/Split-<split>/<filename>``, train first."""
    files = {os.path.basename(os.path.dirname(f))[len("Split-"):]: f
             for f in glob.glob(os.path.join(uri, "Split-*", filename))}
    return {split: files[split] for split in sorted(files, key=lambda s: (s != "train", s))}


def load_statistics(uri: str) -> dict[str, Any]:
    """``{split: DatasetFeatureStatistics}`` of a StatisticsGen ``statistics`` artifact."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = {}
    for split, path in _split_files(uri, "FeatureStats.pb").items():
        proto = statistics_pb2.DatasetFeatureStatisticsList()
        with open(path, "rb") as f:
            proto.ParseFromString(f.read())
        if proto.datasets:
            stats[split] = proto.datasets[0]
    return stats


def _feature_name(feature: Any) -> str:
    return ".".join(feature.path.step) if feature.HasField("path") else feature.name


def _common_stats(feature: Any) -> Any:
    kind = feature.WhichOneof("stats")
    return getattr(feature, kind).common_stats if kind in ("num_stats", "string_stats", "bytes_stats") else None


def feature_rows(dataset: Any) -> list[list[Any]]:
    """One row per feature: type, count, missing, mean/std/min/max (numeric), unique (strings)."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    rows = []
    for feature in dataset.features:
        common = _common_stats(feature)
        row = [_feature_name(feature), statistics_pb2.FeatureNameStatistics.Type.Name(feature.type),
               common.num_non_missing if common else "", common.num_missing if common else ""]
        if feature.HasField("num_stats"):
            num = feature.num_stats
            row += [num.mean, num.std_dev, num.min, num.max, ""]
        else:
            unique = feature.string_stats.unique if feature.HasField("string_stats") else ""
            row += ["", "", "", "", unique]
        rows.append(row)
    return rows


def label_counts(dataset: Any, label_key: str) -> tuple[list[str], list[float]] | None:
    """(values, counts) of the label: its rank histogram for strings, else its numeric histogram."""
    feature = next((f for f in dataset.features if _feature_name(f) == label_key), None)
    if feature is None:
        return None
    if feature.HasField("string_stats"):
        strings = feature.string_stats
        if strings.rank_histogram.buckets:
            return ([b.label for b in strings.rank_histogram.buckets],
                    [b.sample_count for b in strings.rank_histogram.buckets])
        return [v.value for v in strings.top_values], [v.frequency for v in strings.top_values]
    if feature.HasField("num_stats"):
        histograms = [h for h in feature.num_stats.histograms if h.type == h.STANDARD]
        if histograms:
            buckets = histograms[0].buckets
            return [_bucket_name(b.low_value, b.high_value) for b in buckets], [b.sample_count for b in buckets]
    return None


def _bucket_name(low: float, high: float) -> str:
    """``"3"`` where a bucket holds one integer, e.g. [2.7, 3.6]; otherwise ``"2.7-3.6"``."""
    integers = range(math.ceil(low), math.floor(high) + 1)
    return str(integers[0]) if len(integers) == 1 else f"{low:.3g}-{high:.3g}"


def plot_label_distribution(stats: dict[str, Any], label_key: str, path: str) -> str | None:
    counts = {split: label_counts(dataset, label_key) for split, dataset in stats.items()}
    counts = {split: c for split, c in counts.items() if c and c[0]}
    if not counts:
        return None
    figure = Figure(figsize=(4.5 * len(counts), 3.2), layout="constrained")
    for i, (split, (values, numbers)) in enumerate(counts.items()):
        axes = figure.add_subplot(1, len(counts), i + 1)
        axes.bar(range(len(values)), numbers, color="tab:blue")
        axes.set_xticks(range(len(values)), values, rotation=90 if len(values) > 12 else 0, fontsize=8)
        axes.set_title(f"{split} ({sum(numbers):.0f} examples)")
        axes.set_xlabel(label_key)
        axes.set_ylabel("examples")
    return _save(figure, path)


def load_anomalies(uri: str) -> dict[str, Any]:
    """``{split: Anomalies}`` of an ExampleValidator ``anomalies`` artifact."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    result = {}
    for split, path in _split_files(uri, "SchemaDiff.pb").items():
        proto = anomalies_pb2.Anomalies()
        with open(path, "rb") as f:
            proto.ParseFromString(f.read())
        result[split] = proto
    return result


def anomalies_html(anomalies: dict[str, Any]) -> str:
    if not anomalies:
        return _p("The ExampleValidator wrote no anomalies report.", "note")
    rows = []
    for split, proto in anomalies.items():
        for feature, info in sorted(proto.anomaly_info.items()):
            rows.append([split, feature, info.short_description, info.description])
        if proto.HasField("dataset_anomaly_info"):
            info = proto.dataset_anomaly_info
            rows.append([split, "(dataset)", info.short_description, info.description])
    splits = ", ".join(anomalies)
    if not rows:
        return _p(f"No anomalies: every split ({splits}) matches the schema.", "ok")
    return (_p(f"{len(rows)} anomalies found in {splits}.", "bad")
            + _table(["split", "feature", "anomaly", "description"], rows))


# ----------------------------------------------------------------------------- 3. training

def training_section(record: RunRecord, folder: str) -> str:
    model_run = record.output("Trainer", "model_run")
    path = os.path.join(model_run.uri, HISTORY_FILE) if model_run is not None else ""
    if not path or not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8") as f:
        run = json.load(f)
    history = {k: v for k, v in run.get("history", {}).items() if v}
    parts = [_p(f"Model family {run.get('model', '?')}; signatures: {', '.join(run.get('signatures', []))}.")]
    if history:
        parts.append(_table(["metric", "epochs", "final train", "final validation", "best validation"],
                            history_rows(history)))
        parts.append(_img(plot_history(history, os.path.join(folder, "training.png"))))
    return "\n".join(parts)


def _curves(history: dict[str, list[float]]) -> list[str]:
    """Base metric names: ``loss``, ``accuracy``, ... (``val_x`` goes with ``x``)."""
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
    figure = Figure(figsize=(4.2 * columns, 3.0 * rows), layout="constrained")
    for i, name in enumerate(names):
        axes = figure.add_subplot(rows, columns, i + 1)
        for key, label in ((name, "train"), ("val_" + name, "validation")):
            if history.get(key):
                axes.plot(range(1, len(history[key]) + 1), history[key], marker=".", label=label)
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return _save(figure, path)


# ----------------------------------------------------------------------------- 4. evaluation

def evaluation_section(record: RunRecord, config: PipelineConfig, folder: str) -> str:
    evaluation = record.output("Evaluator", "evaluation")
    if evaluation is None:
        return ""
    parts = [_verdict(record)]
    if record.metrics:
        parts.append(_table(["metric", "value"], sorted(record.metrics.items())))
    names, rows = slice_rows(evaluation.uri)
    if rows:
        parts.append("<h3>Metrics per slice</h3>" + _table(["slice"] + names, rows))
    model = record.output("Trainer", "model")
    examples = record.output("TfdsExampleGen", "examples") or _output_named(record, "examples")
    if config.label_key and model is not None and examples is not None:
        parts.append(confusion_html(os.path.join(model.uri, "Format-Serving"),
                                    os.path.join(examples.uri, f"Split-{EVAL_SPLIT}"),
                                    config.label_key, config.num_classes, folder))
    return "\n".join(p for p in parts if p)


def _output_named(record: RunRecord, key: str) -> Any:
    """The first step output called ``key`` (an ExampleGen under another node name)."""
    return next((s.outputs[key][0] for s in record.steps if s.outputs.get(key)), None)


def _verdict(record: RunRecord) -> str:
    if record.blessed is None:
        return _p("The Evaluator made no blessing decision (no thresholds).", "note")
    if record.blessed:
        return _p("BLESSED: the candidate model passed every threshold.", "ok")
    return _p(f"NOT BLESSED: {record.not_blessed_reasons or 'no reason recorded'}", "bad")


def _slice_name(slice_key: Any) -> str:
    keys = []
    for key in slice_key.single_slice_keys:
        value = getattr(key, key.WhichOneof("kind"))
        keys.append(f"{key.column} = {value.decode() if isinstance(value, bytes) else value}")
    return ", ".join(keys) or "overall"


def _slice_order(slice_key: Any) -> tuple:
    return tuple((k.column, getattr(k, k.WhichOneof("kind"))) for k in slice_key.single_slice_keys)


def slice_rows(evaluation_uri: str) -> tuple[list[str], list[list[Any]]]:
    """(metric names, one row per slice) of the candidate model's double-valued metrics."""
    import tensorflow_model_analysis as tfma

    per_slice = []
    for metrics in tfma.load_metrics(evaluation_uri):
        if not metrics.HasField("slice_key"):
            continue
        values = {item.key.name: item.value.double_value.value for item in metrics.metric_keys_and_values
                  if not item.key.is_diff and item.key.model_name in ("", "candidate")
                  and item.value.HasField("double_value")}
        per_slice.append((metrics.slice_key, values))
    per_slice.sort(key=lambda s: (len(s[0].single_slice_keys), _slice_order(s[0])))
    names = sorted({name for _, values in per_slice for name in values})
    return names, [[_slice_name(key)] + [values.get(n, "") for n in names] for key, values in per_slice]


def read_examples(split_dir: str, limit: int = MAX_EVAL_EXAMPLES) -> list[bytes]:
    """Serialized tf.Examples of one ExampleGen split (gzip TFRecords), at most ``limit``."""
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(os.path.join(split_dir, "*")))
    if not files:
        raise FileNotFoundError(f"no examples under {split_dir}")
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(limit)]


def confusion_matrix(model_dir: str, records: Sequence[bytes], label_key: str,
                     num_classes: int | None = None) -> np.ndarray | None:
    """``[true, predicted]`` counts of a SavedModel's ``serving_default`` on serialized tf.Examples.

    ``None`` when the model is no classifier (no ``examples`` input or no ``probabilities`` output).
    """
    import tensorflow as tf

    signature = tf.saved_model.load(model_dir).signatures.get("serving_default")
    if signature is None or "examples" not in signature.structured_input_signature[1] \
            or "probabilities" not in signature.structured_outputs:
        return None
    labels = np.array([_int_label(r, label_key) for r in records])
    predicted = np.concatenate([
        np.argmax(signature(examples=tf.constant(list(records[i:i + PREDICTION_BATCH])))["probabilities"].numpy(),
                  axis=-1)
        for i in range(0, len(records), PREDICTION_BATCH)])
    n = max(num_classes or 0, int(labels.max()) + 1, int(predicted.max()) + 1)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def _int_label(record: bytes, label_key: str) -> int:
    import tensorflow as tf

    feature = tf.train.Example.FromString(record).features.feature.get(label_key)
    if feature is None or not feature.int64_list.value:
        raise ValueError(f"example has no int64 label '{label_key}'")
    return int(feature.int64_list.value[0])


def plot_confusion(matrix: np.ndarray, path: str) -> str:
    n = len(matrix)
    size = min(2.5 + 0.4 * n, 10)
    figure = Figure(figsize=(size + 1, size), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, shrink=0.8)
    if n <= 20:
        threshold = matrix.max() / 2
        for (row, column), count in np.ndenumerate(matrix):
            axes.text(column, row, str(count), ha="center", va="center", fontsize=8,
                      color="white" if count > threshold else "black")
    axes.set_xticks(range(n))
    axes.set_yticks(range(n))
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(f"accuracy {np.trace(matrix) / max(matrix.sum(), 1):.4f} on {matrix.sum()} examples")
    return _save(figure, path)


def confusion_html(model_dir: str, split_dir: str, label_key: str, num_classes: int | None,
                   folder: str) -> str:
    if not os.path.isdir(model_dir) or not os.path.isdir(split_dir):
        return ""
    records = read_examples(split_dir)
    matrix = confusion_matrix(model_dir, records, label_key, num_classes)
    if matrix is None:
        return ""
    image = plot_confusion(matrix, os.path.join(folder, "confusion.png"))
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    return (f"<h3>Confusion matrix ({EVAL_SPLIT} split)</h3>"
            + _p(f"The candidate model's serving signature on {matrix.sum()} {EVAL_SPLIT} examples: "
                 f"accuracy {accuracy:.4f}.") + _img(image))


# ----------------------------------------------------------------------------- 5. push

def push_section(record: RunRecord) -> str:
    if record.step("Pusher") is None:
        return ""
    push = record.push
    if not push:
        return _p("The Pusher recorded no outcome.", "bad")
    if push.get("pushed"):
        text = f"PUSHED version {push.get('pushed_version')} to {push.get('pushed_destination')}."
        return _p(text, "ok")
    reason = push.get("push_reason") or record.not_blessed_reasons or "the model was not blessed"
    return _p(f"NOT PUSHED: {reason}.", "bad")


# ----------------------------------------------------------------------------- HTML helpers

class _Raw(str):
    """Table cell content that is already HTML."""


def _e(value: Any) -> str:
    return html.escape(str(value))


def _cell(value: Any) -> str:
    if isinstance(value, _Raw):
        return value
    if isinstance(value, float):
        whole = math.isfinite(value) and value == int(value) and abs(value) < 1e6
        return _e(f"{value:.0f}" if whole else f"{value:.4g}")
    return _e(value)


def _table(header: Sequence[str] | None, rows: Iterable[Sequence[Any]]) -> str:
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>\n" if header else ""
    body = "\n".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table>\n{head}{body}\n</table>"


def _p(text: str, css_class: str = "") -> str:
    attribute = f' class="{css_class}"' if css_class else ""
    return f"<p{attribute}>{_e(text)}</p>"


def _img(path: str) -> str:
    name = os.path.basename(path)
    return f'<p><img src="{_e(name)}" alt="{_e(name)}"></p>'


def _save(figure: Figure, path: str) -> str:
    figure.savefig(path, dpi=100)
    return path

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
5. samples: what the candidate model generates, read from its serving
   signatures (never from the family name): ``generate`` (GANs), ``sample``,
   ``decode`` and ``encode`` (VAEs), ``score`` (autoencoders' anomaly score),
   and the filters of a first RBM among its variables (DBNs);
6. push: whether the model was pushed, and why (not).

TensorFlow and TFMA are imported only by the functions that need them.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import glob
import html
import json
import logging
import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from components.trainer import HISTORY_FILE
from pipelines import nodes
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
        ("Samples", lambda: samples_section(record, config, folder)),
        ("Push", lambda: push_section(record)),
    ]
    _clear_caches()
    try:
        body = "\n".join(_section(title, render) for title, render in sections)
    finally:
        _clear_caches()
    path = os.path.join(folder, INDEX)
    with open(path, "w", encoding="utf-8") as f:
        f.write(_PAGE.format(title=_e(f"Pipeline {record.pipeline}, run {record.run_id}"), body=body))
    return path


def _section(title: str, render: Callable[[], str]) -> str:
    """``<h2>title</h2>`` plus the section; nothing when it has no data.

    A section that cannot be rendered says why instead of failing the run's report.
    """
    content = _render_or_explain("section", title, render)
    return f'<section id="{title.lower()}">\n<h2>{_e(title)}</h2>\n{content}\n</section>' if content else ""


def _render_or_explain(kind: str, title: str, render: Callable[[], str]) -> str:
    """``render()``, or a paragraph saying why this ``kind`` ("section", "part") failed."""
    try:
        return render()
    except Exception as error:
        logging.warning("report %s %s failed", kind, title, exc_info=True)
        return _p(f"This {kind} could not be rendered: {type(error).__name__}: {error}", "bad")


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
    statistics = record.output(nodes.STATISTICS_GEN, "statistics")
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
    anomalies = record.output(nodes.EXAMPLE_VALIDATOR, "anomalies")
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
    model_run = record.output(nodes.TRAINER, "model_run")
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
    evaluation = record.output(nodes.EVALUATOR, "evaluation")
    if evaluation is None:
        return ""
    parts = [_verdict(record)]
    if record.metrics:
        parts.append(_table(["metric", "value"], sorted(record.metrics.items())))
    names, rows = slice_rows(evaluation.uri) if _is_tfma_output(evaluation.uri) else ([], [])
    if rows:
        parts.append("<h3>Metrics per slice</h3>" + _table(["slice"] + names, rows))
    model_dir, split_dir = _model_dir(record), _eval_split_dir(record)
    if config.label_key and model_dir and split_dir:
        parts.append(confusion_html(model_dir, split_dir, config.label_key, config.num_classes, folder))
    return "\n".join(p for p in parts if p)


def _output_named(record: RunRecord, key: str) -> Any:
    """The first step output called ``key`` (an ExampleGen under another node name)."""
    return next((s.outputs[key][0] for s in record.steps if s.outputs.get(key)), None)


def _model_dir(record: RunRecord) -> str | None:
    """The candidate SavedModel: the Trainer's ``model`` output, ``<uri>/Format-Serving``."""
    model = record.output(nodes.TRAINER, "model")
    return os.path.join(model.uri, "Format-Serving") if model is not None else None


def _eval_split_dir(record: RunRecord) -> str | None:
    """The ExampleGen's ``examples`` of the eval split."""
    examples = record.output(nodes.EXAMPLE_GEN, "examples") or _output_named(record, "examples")
    return os.path.join(examples.uri, f"Split-{EVAL_SPLIT}") if examples is not None else None


def _is_tfma_output(uri: str) -> bool:
    """Whether an ``evaluation`` was written by TFMA (the GenerativeEvaluator writes a ``metrics.json``)."""
    return os.path.exists(os.path.join(uri, "eval_config.json"))


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
    from serving.records import read_files

    return read_files(os.path.join(split_dir, "*"), limit, error=FileNotFoundError(f"no examples under {split_dir}"))


# The report's sections share the candidate model and the eval examples: each is
# read once per report (write_report clears these caches before and after).

@functools.lru_cache(maxsize=1)
def _load_model(model_dir: str) -> Any:
    """``tf.saved_model.load(model_dir)``."""
    import tensorflow as tf

    return tf.saved_model.load(model_dir)


@functools.lru_cache(maxsize=1)
def _eval_records(split_dir: str) -> tuple[bytes, ...]:
    """The first serialized tf.Examples of a split, as many as any section uses."""
    return tuple(read_examples(split_dir, max(MAX_EVAL_EXAMPLES, SAMPLE_EXAMPLES)))


def _clear_caches() -> None:
    _load_model.cache_clear()
    _eval_records.cache_clear()


def confusion_matrix(model_dir: str, records: Sequence[bytes], label_key: str,
                     num_classes: int | None = None) -> np.ndarray | None:
    """``[true, predicted]`` counts of a SavedModel's ``serving_default`` on serialized tf.Examples.

    ``None`` when the model is no classifier (no ``examples`` input or no ``probabilities`` output).
    """
    signature = _load_model(model_dir).signatures.get("serving_default")
    if signature is None or "examples" not in signature.structured_input_signature[1] \
            or "probabilities" not in signature.structured_outputs:
        return None
    labels = np.array([_int_label(r, label_key) for r in records])
    predicted = np.argmax(predict(signature, records)["probabilities"], axis=-1)
    n = max(num_classes or 0, int(labels.max()) + 1, int(predicted.max()) + 1)
    matrix = np.zeros((n, n), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def predict(signature: Any, records: Sequence[bytes]) -> dict[str, np.ndarray]:
    """The outputs of a signature with an ``examples`` input on serialized tf.Examples, in batches."""
    import tensorflow as tf

    batches = [signature(examples=tf.constant(list(records[i:i + PREDICTION_BATCH])))
               for i in range(0, len(records), PREDICTION_BATCH)]
    return {key: np.concatenate([batch[key].numpy() for batch in batches]) for key in batches[0]}


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
    records = _eval_records(split_dir)[:MAX_EVAL_EXAMPLES]
    matrix = confusion_matrix(model_dir, records, label_key, num_classes)
    if matrix is None:
        return ""
    image = plot_confusion(matrix, os.path.join(folder, "confusion.png"))
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    return (f"<h3>Confusion matrix ({EVAL_SPLIT} split)</h3>"
            + _p(f"The candidate model's serving signature on {matrix.sum()} {EVAL_SPLIT} examples: "
                 f"accuracy {accuracy:.4f}.") + _img(image))


# ----------------------------------------------------------------------------- 5. samples

GRID_SIDE = 8  # unconditional samples: an 8x8 grid
TRAVERSAL_STEPS = 9  # latent traversal: steps per varied dimension
TRAVERSAL_LIMIT = 2.5  # ... over [-limit, limit]
SHOWN_EXAMPLES = 10  # originals over reconstructions
SAMPLE_EXAMPLES = 2_000  # eval examples scored for the anomaly histogram
DEFAULT_CLASSES = 10  # rows of a conditional GAN's grid when the config names no num_classes


@dataclasses.dataclass(frozen=True)
class ImageSpec:
    """Where the raw images are and how to draw them: the Transform's ``custom_config``
    (``image_key``, ``image_shape``, ``max_value``)."""

    key: str = "image"
    shape: tuple[int, ...] = ()
    scale: float = 255.0

    @classmethod
    def of(cls, config: PipelineConfig) -> ImageSpec:
        options = config.transform_config
        return cls(options.get("image_key", "image"), tuple(int(d) for d in options.get("image_shape", ())),
                   float(options.get("max_value", 255)))

    def side(self, pixels: int) -> tuple[int, int]:
        """(height, width) of a flat image of ``pixels`` values."""
        if self.shape and math.prod(self.shape) == pixels:
            return self.shape[0], self.shape[1] if len(self.shape) > 1 else 1
        root = math.isqrt(pixels)
        if root * root != pixels:
            raise ValueError(f"cannot draw flat images of {pixels} values: not the image shape {self.shape} "
                             "and not square")
        return root, root

    def as_images(self, values: Any) -> np.ndarray:
        """``(n, height, width)`` grey images from ``(n, pixels)`` or ``(n, h, w[, c])`` values
        (channels averaged)."""
        values = np.asarray(values, dtype=np.float32)
        if values.ndim == 2:
            return values.reshape(len(values), *self.side(values.shape[1]))
        if values.ndim == 4:
            return values.mean(axis=-1)
        if values.ndim == 3:
            return values
        raise ValueError(f"cannot draw images of shape {values.shape}: expected (n, pixels) or (n, h, w[, c])")


@dataclasses.dataclass
class SampleContext:
    """What the sample renderers share: the loaded candidate model, the eval
    examples (read on first use), the image layout and the report folder."""

    model: Any  # tf.saved_model.load(...)
    image: ImageSpec
    folder: str
    split_dir: str | None = None
    label_key: str | None = None
    num_classes: int | None = None
    seed: int = 0

    @property
    def signatures(self) -> Any:
        return self.model.signatures

    def inputs(self, name: str) -> dict[str, Any]:
        """``{input name: TensorSpec}`` of signature ``name``; empty when there is none."""
        signature = self.signatures.get(name)
        return dict(signature.structured_input_signature[1]) if signature is not None else {}

    def outputs(self, name: str) -> set[str]:
        signature = self.signatures.get(name)
        return set(signature.structured_outputs) if signature is not None else set()

    def on_examples(self, name: str, *outputs: str) -> Any:
        """Signature ``name`` if it takes serialized ``examples`` and returns ``outputs``, else ``None``."""
        ok = set(self.inputs(name)) == {"examples"} and set(outputs) <= self.outputs(name)
        return self.signatures[name] if ok else None

    @functools.cached_property
    def records(self) -> list[bytes]:
        """Serialized eval tf.Examples (none when the run has no eval split)."""
        if not self.split_dir or not os.path.isdir(self.split_dir):
            return []
        return list(_eval_records(self.split_dir)[:SAMPLE_EXAMPLES])

    def raw(self, records: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray | None]:
        """(raw images ``(n, pixels)`` int64, labels or ``None``) of serialized examples."""
        from components.generative_evaluator.examples import raw_features

        raw = raw_features(records, self.image.key, self.label_key or "")
        return raw[self.image.key], raw.get(self.label_key or "")

    def path(self, name: str) -> str:
        return os.path.join(self.folder, name)


ATTENTION_EXAMPLES = 4


def samples_section(record: RunRecord, config: PipelineConfig, folder: str) -> str:
    """Generated images, reconstructions, anomaly scores and RBM filters of the
    candidate model; nothing when its signatures and variables offer none."""
    model_dir = _model_dir(record)
    if not model_dir or not os.path.isdir(model_dir):
        return ""
    context = SampleContext(_load_model(model_dir), ImageSpec.of(config), folder, _eval_split_dir(record),
                            config.label_key, config.num_classes, config.seed)
    parts = [_render_or_explain("part", render.__name__, lambda render=render: render(context))
             for render in SAMPLE_RENDERERS]
    return "\n".join(p for p in parts if p)


def _image_output(outputs: dict[str, Any]) -> np.ndarray:
    """The ``image`` output of a signature call (its only output otherwise)."""
    if "image" in outputs:
        return outputs["image"].numpy()
    if len(outputs) != 1:
        raise ValueError(f"signature outputs {sorted(outputs)} have no 'image'")
    return next(iter(outputs.values())).numpy()


def _normal(context: SampleContext, rows: int, dims: int) -> np.ndarray:
    return np.random.default_rng(context.seed).standard_normal((rows, dims)).astype(np.float32)


def generated_html(context: SampleContext) -> str:
    """``generate`` (a GAN): one row per class for a conditional GAN (the same
    ``z`` down each column), else an 8x8 grid."""
    inputs = context.inputs("generate")
    if "z" not in inputs:
        return ""
    import tensorflow as tf

    latent = inputs["z"].shape[-1]
    if "label" in inputs:
        classes = context.num_classes or DEFAULT_CLASSES
        z = np.tile(_normal(context, SHOWN_EXAMPLES, latent), (classes, 1))
        labels = np.repeat(np.arange(classes), SHOWN_EXAMPLES)
        images = _image_output(context.signatures["generate"](
            z=tf.constant(z), label=tf.constant(labels, dtype=inputs["label"].dtype)))
        path = plot_mosaic(_grid(context.image.as_images(images), SHOWN_EXAMPLES), context.path("generated.png"),
                           "generated digits, one row per class",
                           row_labels=[str(c) for c in range(classes)])
        text = (f"The generate signature on {SHOWN_EXAMPLES} latent vectors (seed {context.seed}), "
                f"each one for every class 0..{classes - 1}.")
    else:
        images = _image_output(context.signatures["generate"](z=tf.constant(_normal(context, GRID_SIDE ** 2, latent))))
        path = plot_mosaic(_grid(context.image.as_images(images), GRID_SIDE), context.path("generated.png"),
                           f"{GRID_SIDE ** 2} generated digits")
        text = f"The generate signature on {GRID_SIDE ** 2} latent vectors z ~ N(0, I) (seed {context.seed})."
    return "<h3>Generated samples</h3>" + _p(text) + _img(path)


def vae_samples_html(context: SampleContext) -> str:
    """``sample`` (a VAE): decoded draws from the prior."""
    if "count" not in context.inputs("sample"):
        return ""
    import tensorflow as tf

    count = GRID_SIDE ** 2
    images = _image_output(context.signatures["sample"](
        count=tf.constant(count, dtype=context.inputs("sample")["count"].dtype)))
    path = plot_mosaic(_grid(context.image.as_images(images), GRID_SIDE), context.path("samples.png"),
                       f"{count} samples")
    return ("<h3>Samples from the prior</h3>"
            + _p(f"The sample signature: {count} latent vectors z ~ N(0, I), decoded.") + _img(path))


def traversal_html(context: SampleContext) -> str:
    """``decode`` (a VAE): the first two latent dimensions varied over a grid, the others 0."""
    inputs = context.inputs("decode")
    if "z" not in inputs:
        return ""
    import tensorflow as tf

    latent = inputs["z"].shape[-1]
    values = np.linspace(-TRAVERSAL_LIMIT, TRAVERSAL_LIMIT, TRAVERSAL_STEPS, dtype=np.float32)
    rows = values if latent > 1 else np.zeros(1, np.float32)
    z = np.zeros((len(rows), len(values), latent), np.float32)
    if latent > 1:
        z[..., 0], z[..., 1] = rows[:, None], values[None, :]
    else:
        z[..., 0] = values
    images = _image_output(context.signatures["decode"](z=tf.constant(z.reshape(-1, latent))))
    labels = [f"{v:+.2g}" for v in values]
    path = plot_mosaic(_grid(context.image.as_images(images), len(values)), context.path("traversal.png"),
                       "latent traversal", row_labels=labels if latent > 1 else (), column_labels=labels,
                       row_title="z[0]" if latent > 1 else "",
                       column_title="z[1]" if latent > 1 else "z[0]")
    varied = "the first two latent dimensions (rows z[0], columns z[1])" if latent > 1 else "the latent"
    return ("<h3>Latent traversal</h3>"
            + _p(f"The decode signature with {varied} over [{-TRAVERSAL_LIMIT}, {TRAVERSAL_LIMIT}], "
                 f"the other {max(latent - 2, 0)} dimensions 0.") + _img(path))


def _shown(context: SampleContext) -> tuple[list[bytes], np.ndarray]:
    """The eval examples to draw (the first of each class where there are labels) and their raw images."""
    records = context.records
    images, labels = context.raw(records)
    if labels is None:
        chosen = np.arange(min(SHOWN_EXAMPLES, len(records)))
    else:
        chosen = np.unique(labels, return_index=True)[1][:SHOWN_EXAMPLES]
    return [records[i] for i in chosen], images[chosen]


def vae_reconstructions_html(context: SampleContext) -> str:
    """``encode`` then ``decode`` of the posterior mean (a VAE) on eval examples."""
    encode = context.on_examples("encode", "z_mean")
    if encode is None or "z" not in context.inputs("decode") or not context.records:
        return ""
    import tensorflow as tf

    records, raw = _shown(context)
    z_mean = predict(encode, records)["z_mean"]
    reconstructions = _image_output(context.signatures["decode"](z=tf.constant(z_mean)))
    path = plot_mosaic(np.stack([context.image.as_images(raw / context.image.scale),
                                 context.image.as_images(reconstructions)]),
                       context.path("decoded.png"), "eval digits and their reconstructions",
                       row_labels=["original", "decoded"])
    return ("<h3>Reconstructions</h3>"
            + _p(f"{len(records)} {EVAL_SPLIT} examples, encoded (encode's z_mean) and decoded.") + _img(path))


def anomaly_html(context: SampleContext) -> str:
    """``score`` (an autoencoder): reconstructions, and the anomaly score of clean
    vs corrupted eval examples with its ROC AUC."""
    score = context.on_examples("score", "reconstruction_error", "reconstruction")
    if score is None or not context.records:
        return ""
    from components.generative_evaluator import metrics
    from components.generative_evaluator.examples import with_images

    records = context.records
    raw, _ = context.raw(records)
    clean = context.image.as_images(raw / context.image.scale)[..., None]
    noise = metrics.DEFAULT_CORRUPTION  # the GenerativeEvaluator's default
    corrupted = metrics.corrupt(clean, seed=context.seed, **noise)
    corrupted_raw = np.rint(corrupted * context.image.scale).astype(np.int64).reshape(len(raw), -1)
    clean_out = predict(score, records)
    corrupted_out = predict(score, with_images(records, context.image.key, corrupted_raw))

    shown = slice(0, SHOWN_EXAMPLES)
    rows = [clean[shown], clean_out["reconstruction"][shown], corrupted[shown], corrupted_out["reconstruction"][shown]]
    path = plot_mosaic(np.stack([context.image.as_images(r) for r in rows]), context.path("reconstructions.png"),
                       "eval digits and their reconstructions",
                       row_labels=["original", "reconstructed", "corrupted", "reconstructed"])
    clean_scores = clean_out["reconstruction_error"].reshape(-1)
    corrupted_scores = corrupted_out["reconstruction_error"].reshape(-1)
    auc = metrics.roc_auc(clean_scores, corrupted_scores)
    corruption = f"{noise['kind']} noise of strength {noise['strength']}"
    histogram = plot_score_histogram(clean_scores, corrupted_scores, auc, context.path("anomaly_scores.png"))
    return ("<h3>Reconstructions</h3>"
            + _p(f"The score signature on {EVAL_SPLIT} examples, clean and with {corruption}.") + _img(path)
            + "<h3>Anomaly score</h3>"
            + _p(f"Reconstruction error of {len(clean_scores)} clean vs the same {EVAL_SPLIT} examples with "
                 f"{corruption}: ROC AUC {auc:.4f} (1 = every corrupted digit scores higher).")
            + _img(histogram))


def _named_variables(root: Any) -> list[tuple[str, Any]]:
    """``(path, tf.Variable)`` of every variable reachable from a loaded SavedModel,
    by its object path (``model/rbms/0/kernel``); a variable reachable twice is listed twice."""
    import tensorflow as tf

    found: list[tuple[str, Any]] = []
    seen: set[int] = set()
    stack = [("", root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, tf.Variable):
            found.append((path, node))
        elif id(node) not in seen:
            seen.add(id(node))
            children = tf.train.TrackableView.children(node).items()
            stack.extend((f"{path}/{name}" if path else name, child) for name, child in reversed(children))
    return found


def rbm_weights(model: Any, pixels: int | None = None) -> np.ndarray | None:
    """The weight matrix ``(visible, hidden)`` of the first RBM of a loaded SavedModel: a 2-D float
    variable on an object path through an ``rbm`` whose rows are the image's pixels (any square
    number of rows when ``pixels`` is ``None``); ``None`` when there is none."""
    candidates = sorted((path, variable) for path, variable in _named_variables(model)
                        if "rbm" in path.lower() and variable.dtype.is_floating and variable.shape.rank == 2
                        and (variable.shape[0] == pixels if pixels else
                             math.isqrt(variable.shape[0]) ** 2 == variable.shape[0]))
    return candidates[0][1].numpy() if candidates else None


def rbm_filters_html(context: SampleContext) -> str:
    """The first RBM's filters (a DBN): the weights of its first 64 hidden units as images."""
    weights = rbm_weights(context.model, math.prod(context.image.shape) if context.image.shape else None)
    if weights is None:
        return ""
    shown = weights[:, :GRID_SIDE ** 2].T
    scale = np.abs(shown).max(axis=1, keepdims=True)
    filters = 0.5 + 0.5 * shown / np.where(scale > 0, scale, 1.0)  # per filter: 0 weight is grey
    path = plot_mosaic(_grid(context.image.as_images(filters), GRID_SIDE), context.path("rbm_filters.png"),
                       f"first RBM: weights of hidden units 1-{len(shown)}")
    return ("<h3>RBM filters</h3>"
            + _p(f"The weights from the {weights.shape[0]} pixels to the first {len(shown)} of "
                 f"{weights.shape[1]} hidden units of the first RBM, each scaled to its largest "
                 "absolute weight (white positive, black negative, grey 0).") + _img(path))


def _source_text(record: bytes, label_key: str | None) -> str:
    """The first text feature of a raw example other than the label (a seq2seq source)."""
    import tensorflow as tf

    features = tf.train.Example.FromString(record).features.feature
    for name in sorted(features):
        values = features[name].bytes_list.value
        if name != label_key and values:
            return values[0].decode("utf-8", "replace")
    return ""


def attention_html(context: SampleContext) -> str:
    """Attention heatmaps of a few eval translations (output tokens over source tokens)."""
    signature = next((context.signatures[n] for n in sorted(context.signatures)
                      if context.on_examples(n, "translation", "attention")), None)
    if signature is None or not context.records:
        return ""
    records = context.records[:ATTENTION_EXAMPLES]
    out = predict(signature, records)
    figure = Figure(figsize=(10, 2.8 * len(records)), layout="constrained")
    for i, record in enumerate(records):
        source = _source_text(record, context.label_key)
        translation = out["translation"][i]
        translation = translation.decode("utf-8", "replace") if isinstance(translation, bytes) else str(translation)
        steps = int(out["length"][i]) if "length" in out else out["attention"].shape[1]
        source_tokens = list(source) if len(source) <= out["attention"].shape[2] else source.split()
        source_tokens = source_tokens[: out["attention"].shape[2]]
        output_tokens = (list(translation) if " " not in translation.strip() else translation.split())[:steps]
        weights = out["attention"][i, : max(steps, 1), : max(len(source_tokens), 1)]
        axes = figure.add_subplot(len(records), 1, i + 1)
        axes.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0)
        axes.set_xticks(range(len(source_tokens)), source_tokens, fontsize=7)
        axes.set_yticks(range(len(output_tokens)), output_tokens, fontsize=7)
        axes.set_title(f"{source!r} -> {translation!r}", fontsize=9)
    _save(figure, context.path("attention.png"))
    return (_p("Attention weights of the served decoder: one row per output token, one column per "
               "source token.") + _img(context.path("attention.png")))


SAMPLE_RENDERERS: tuple[Callable[[SampleContext], str], ...] = (
    generated_html, vae_samples_html, traversal_html, vae_reconstructions_html, anomaly_html, rbm_filters_html,
    attention_html)


def _grid(images: np.ndarray, columns: int) -> np.ndarray:
    """``(rows, columns, h, w)`` of ``(n, h, w)`` images, the last row padded with blanks (NaN)."""
    rows = math.ceil(len(images) / columns)
    padded = np.full((rows * columns, *images.shape[1:]), np.nan, np.float32)
    padded[:len(images)] = images
    return padded.reshape(rows, columns, *images.shape[1:])


def mosaic(grid: np.ndarray) -> np.ndarray:
    """One image of a ``(rows, columns, h, w)`` grid, the tiles one blank (NaN) pixel apart."""
    rows, columns, height, width = grid.shape
    canvas = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan, np.float32)
    for (row, column), tile in zip(np.ndindex(rows, columns), grid.reshape(-1, height, width)):
        canvas[row * (height + 1):row * (height + 1) + height, column * (width + 1):column * (width + 1) + width] = tile
    return canvas


def plot_mosaic(grid: np.ndarray, path: str, title: str, row_labels: Sequence[str] = (),
                column_labels: Sequence[str] = (), row_title: str = "", column_title: str = "",
                cmap: str = "gray", separator: str = "#7f9fbf") -> str:
    """Draws a ``(rows, columns, h, w)`` grid of images in [0, 1], the tiles ``separator`` coloured lines
    apart, the first rows and columns labelled with ``row_labels`` and ``column_labels``."""
    import matplotlib

    rows, columns, height, width = grid.shape
    figure = Figure(figsize=(1.3 + 0.55 * columns * width / 8, 0.9 + 0.55 * rows * height / 8), layout="constrained")
    axes = figure.add_subplot()
    colors = matplotlib.colormaps[cmap].with_extremes(bad=separator)
    axes.imshow(mosaic(grid), cmap=colors, vmin=0.0, vmax=1.0, interpolation="nearest")
    axes.set_xticks([c * (width + 1) + (width - 1) / 2 for c in range(len(column_labels))], column_labels,
                    fontsize=7)
    axes.set_yticks([r * (height + 1) + (height - 1) / 2 for r in range(len(row_labels))], row_labels,
                    fontsize=8)
    axes.tick_params(length=0)
    axes.set_xlabel(column_title)
    axes.set_ylabel(row_title)
    for spine in axes.spines.values():
        spine.set_visible(False)
    axes.set_title(title, fontsize=10)
    return _save(figure, path)


def plot_score_histogram(clean: np.ndarray, corrupted: np.ndarray, auc: float, path: str) -> str:
    figure = Figure(figsize=(6, 3.5), layout="constrained")
    axes = figure.add_subplot()
    bins = np.histogram_bin_edges(np.concatenate([clean, corrupted]), bins=40)
    axes.hist(clean, bins=bins, alpha=0.6, label=f"clean ({len(clean)})", color="tab:blue")
    axes.hist(corrupted, bins=bins, alpha=0.6, label=f"corrupted ({len(corrupted)})", color="tab:red")
    axes.set_xlabel("anomaly score (reconstruction error)")
    axes.set_ylabel("examples")
    axes.set_title(f"ROC AUC {auc:.4f}")
    axes.legend(fontsize=8)
    return _save(figure, path)


# ----------------------------------------------------------------------------- 6. push

def push_section(record: RunRecord) -> str:
    if record.step(nodes.PUSHER) is None:
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

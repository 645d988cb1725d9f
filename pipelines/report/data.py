"""Section 2, the data: StatisticsGen's per-feature statistics and label distribution, and the
ExampleValidator's anomalies, read from their protos (``tensorflow_metadata`` only: no TensorFlow)."""

from __future__ import annotations

import glob
import math
import os
from typing import Any

from components.artifacts import SPLIT_PREFIX
from pipelines import nodes
from pipelines.config import PipelineConfig
from pipelines.report.helpers import canvas, heading, image, paragraph, save, table
from pipelines.runs import RunRecord

STATISTICS_FILE = "FeatureStats.pb"
ANOMALIES_FILE = "SchemaDiff.pb"


def section(record: RunRecord, config: PipelineConfig, folder: str) -> str:
    parts = []
    statistics = record.output(nodes.STATISTICS_GEN, "statistics")
    if statistics is not None:
        stats = load_statistics(statistics.uri)
        for split, dataset in stats.items():
            parts.append(heading(f"Split {split}: {dataset.num_examples} examples"))
            parts.append(table(["feature", "type", "count", "missing", "mean", "std", "min", "max", "unique"],
                               feature_rows(dataset)))
        if config.label_key:
            path = plot_label_distribution(stats, config.label_key, os.path.join(folder, "labels.png"))
            if path:
                parts.append(heading(f"Label distribution ({config.label_key})") + image(path))
    anomalies = record.output(nodes.EXAMPLE_VALIDATOR, "anomalies")
    if anomalies is not None:
        parts.append(heading("Validation against the schema") + anomalies_html(load_anomalies(anomalies.uri)))
    return "\n".join(parts)


def _split_files(uri: str, filename: str) -> dict[str, str]:
    """``{split: path}`` of ``<uri>/Split-<split>/<filename>``, train first."""
    files = {os.path.basename(os.path.dirname(f))[len(SPLIT_PREFIX):]: f
             for f in glob.glob(os.path.join(uri, SPLIT_PREFIX + "*", filename))}
    return {split: files[split] for split in sorted(files, key=lambda s: (s != "train", s))}


def _read_splits(uri: str, filename: str, proto_type: type) -> dict[str, Any]:
    """``{split: proto}`` of the ``filename`` of every split of an artifact."""
    protos = {}
    for split, path in _split_files(uri, filename).items():
        with open(path, "rb") as f:
            protos[split] = proto_type.FromString(f.read())
    return protos


def load_statistics(uri: str) -> dict[str, Any]:
    """``{split: DatasetFeatureStatistics}`` of a StatisticsGen ``statistics`` artifact."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    lists = _read_splits(uri, STATISTICS_FILE, statistics_pb2.DatasetFeatureStatisticsList)
    return {split: stats.datasets[0] for split, stats in lists.items() if stats.datasets}


def load_anomalies(uri: str) -> dict[str, Any]:
    """``{split: Anomalies}`` of an ExampleValidator ``anomalies`` artifact."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    return _read_splits(uri, ANOMALIES_FILE, anomalies_pb2.Anomalies)


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
    """``"3"`` where a bucket holds one integer, e.g. [2.7, 3.6]; otherwise ``"2.7-3.6"``.

    >>> _bucket_name(2.7, 3.6), _bucket_name(0.0, 0.5), _bucket_name(1.5, 3.5)
    ('3', '0', '1.5-3.5')
    """
    integers = range(math.ceil(low), math.floor(high) + 1)
    return str(integers[0]) if len(integers) == 1 else f"{low:.3g}-{high:.3g}"


def plot_label_distribution(stats: dict[str, Any], label_key: str, path: str) -> str | None:
    """Bars of the label's counts, one plot per split; ``None`` when the statistics have none."""
    counts = {split: label_counts(dataset, label_key) for split, dataset in stats.items()}
    counts = {split: c for split, c in counts.items() if c and c[0]}
    if not counts:
        return None
    drawing = canvas(4.5 * len(counts), 3.2)
    for i, (split, (values, numbers)) in enumerate(counts.items()):
        axes = drawing.add_subplot(1, len(counts), i + 1)
        axes.bar(range(len(values)), numbers, color="tab:blue")
        axes.set_xticks(range(len(values)), values, rotation=90 if len(values) > 12 else 0, fontsize=8)
        axes.set_title(f"{split} ({sum(numbers):.0f} examples)")
        axes.set_xlabel(label_key)
        axes.set_ylabel("examples")
    return save(drawing, path)


def anomalies_html(anomalies: dict[str, Any]) -> str:
    if not anomalies:
        return paragraph("The ExampleValidator wrote no anomalies report.", "note")
    rows = []
    for split, proto in anomalies.items():
        for feature, info in sorted(proto.anomaly_info.items()):
            rows.append([split, feature, info.short_description, info.description])
        if proto.HasField("dataset_anomaly_info"):
            info = proto.dataset_anomaly_info
            rows.append([split, "(dataset)", info.short_description, info.description])
    splits = ", ".join(anomalies)
    if not rows:
        return paragraph(f"No anomalies: every split ({splits}) matches the schema.", "ok")
    return (paragraph(f"{len(rows)} anomalies found in {splits}.", "bad")
            + table(["split", "feature", "anomaly", "description"], rows))

"""The HTML report of a run: sections, escaping, PNGs and the confusion matrix.

``test_report_of_minimal_run`` builds its own artifacts (statistics, anomalies,
history, push outcome; no Evaluator); the report of a real run is checked by
the digits pipeline test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from pipelines.config import DatasetConfig, PipelineConfig
from pipelines.report import confusion_matrix, write_report
from pipelines.runner import Paths
from pipelines.runs import RunRecord, Step

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL = "<b>bold</b> & co"


def _artifact(uri: Path, **properties) -> metadata_store_pb2.Artifact:
    artifact = metadata_store_pb2.Artifact(uri=str(uri))
    for key, value in properties.items():
        field = "int_value" if isinstance(value, int) else "string_value"
        setattr(artifact.custom_properties[key], field, value)
    return artifact


def _write_proto(path: Path, proto) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(proto.SerializeToString())


def _split_stats(counts: list[int]) -> statistics_pb2.DatasetFeatureStatisticsList:
    """A label with classes 0..2 (``counts`` examples each) and a string feature."""
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    dataset = stats.datasets.add(num_examples=sum(counts))
    label = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.INT)
    label.path.step.append("label")
    label.num_stats.common_stats.num_non_missing = sum(counts)
    label.num_stats.mean, label.num_stats.min, label.num_stats.max = 1.0, 0.0, 2.0
    histogram = label.num_stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    for i, count in enumerate(counts):
        histogram.buckets.add(low_value=i * 2 / 3, high_value=(i + 1) * 2 / 3, sample_count=count)
    text = dataset.features.add(type=statistics_pb2.FeatureNameStatistics.STRING)
    text.path.step.append("text")
    text.string_stats.common_stats.num_non_missing = sum(counts) - 1
    text.string_stats.common_stats.num_missing = 1
    text.string_stats.unique = 7
    return stats


@pytest.fixture
def minimal_run(tmp_path: Path) -> tuple[RunRecord, Paths, PipelineConfig]:
    root = tmp_path / "pipelines" / "tiny"
    statistics, anomalies = root / "StatisticsGen" / "statistics" / "1", root / "ExampleValidator" / "anomalies" / "2"
    for split, counts in (("train", [40, 30, 30]), ("eval", [10, 5, 5])):
        _write_proto(statistics / f"Split-{split}" / "FeatureStats.pb", _split_stats(counts))
    _write_proto(anomalies / "Split-train" / "SchemaDiff.pb", anomalies_pb2.Anomalies())
    drifted = anomalies_pb2.Anomalies()
    drifted.anomaly_info["text"].short_description = "Unexpected string values"
    drifted.anomaly_info["text"].description = EVIL
    _write_proto(anomalies / "Split-eval" / "SchemaDiff.pb", drifted)
    model_run = root / "Trainer" / "model_run" / "3"
    model_run.mkdir(parents=True)
    history = {"loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.7, 0.6], "accuracy": [0.5, 0.7, 0.9],
               "val_accuracy": [0.4, 0.6, 0.8], "learning_rate": [0.1, 0.05, 0.01]}
    (model_run / "history.json").write_text(json.dumps(
        {"model": "tiny", "signatures": ["serving_default"], "history": history}))
    steps = [
        Step("StatisticsGen", "ran", 1.5, {"statistics": [_artifact(statistics)]}),
        Step("ExampleValidator", "ran", 0.2, {"anomalies": [_artifact(anomalies)]}),
        Step("Trainer", "cached", 0.1, {"model_run": [_artifact(model_run)]}),
        Step("Pusher", "ran", 0.1, {"pushed_model": [_artifact(
            root / "Pusher" / "pushed_model" / "4", pushed=0, push_reason="model not blessed")]}),
    ]
    config = PipelineConfig(name="tiny", description="", dataset=DatasetConfig("tiny"),
                            preprocessing_fn="x.preprocessing_fn", model="cnn", num_classes=3)
    return RunRecord("tiny", "2026-01-02T03:04:05.6", 1.7e9, steps), Paths(str(tmp_path)), config


def _sections(page: str) -> list[str]:
    return re.findall(r'<section id="(\w+)">', page)


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC, path
    assert path.stat().st_size > 5_000, path
    height, width = mpimg.imread(path).shape[:2]
    assert height > 150 and width > 150, (path, height, width)


def test_report_of_minimal_run(minimal_run) -> None:
    record, paths, config = minimal_run
    index = Path(write_report(record, paths, config))
    assert index == Path(paths.reports("tiny")) / "2026-01-02T03-04-05.6" / "index.html"
    page = index.read_text()
    assert _sections(page) == ["run", "data", "training", "push"]  # no Evaluator, no evaluation section
    assert "could not be rendered" not in page
    assert "<td>Trainer</td><td>cached</td>" in page
    assert "<td>text</td><td>STRING</td><td>99</td><td>1</td>" in page  # count, missing (train split)
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page and EVIL not in page
    assert "1 anomalies found" in page
    assert "<td>loss</td><td>3</td><td>0.25</td><td>0.6</td><td>0.6</td>" in page
    assert "<td>accuracy</td><td>3</td><td>0.9</td><td>0.8</td><td>0.8</td>" in page
    assert "NOT PUSHED: model not blessed" in page
    for name in ("labels.png", "training.png"):
        assert f'src="{name}"' in page
        _assert_png(index.parent / name)


def test_sections_without_data_are_left_out(minimal_run) -> None:
    record, paths, config = minimal_run
    record.steps = [step for step in record.steps if step.node == "Trainer"]
    page = Path(write_report(record, paths, config)).read_text()
    assert _sections(page) == ["run", "training"]


def _example(**features: int) -> bytes:
    import tensorflow as tf

    return tf.train.Example(features=tf.train.Features(feature={
        k: tf.train.Feature(int64_list=tf.train.Int64List(value=[v])) for k, v in features.items()
    })).SerializeToString()


def _save_guessing_model(path: Path, num_classes: int, output: str) -> None:
    """A SavedModel whose ``serving_default`` predicts each example's ``guess`` feature."""
    import tensorflow as tf

    class Guesser(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serve(self, examples):
            guess = tf.io.parse_example(examples, {"guess": tf.io.FixedLenFeature([], tf.int64)})["guess"]
            return {output: tf.one_hot(guess, num_classes)}

    module = Guesser()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})


def test_confusion_matrix_counts_predictions(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 4, size=(300, 2))  # (label, guess); 300 > one prediction batch
    records = [_example(label=int(label), guess=int(guess)) for label, guess in pairs]
    _save_guessing_model(tmp_path / "model", 4, "probabilities")
    matrix = confusion_matrix(str(tmp_path / "model"), records, "label", num_classes=5)
    expected = np.zeros((5, 5), dtype=np.int64)
    for label, guess in pairs:
        expected[label, guess] += 1
    np.testing.assert_array_equal(matrix, expected)

    _save_guessing_model(tmp_path / "generator", 4, "images")  # no probabilities: not a classifier
    assert confusion_matrix(str(tmp_path / "generator"), records, "label") is None

"""The HTML report of a run, built from artifacts the tests write: sections, escaping, PNGs, figures.

``minimal_run`` has statistics, anomalies, a training history and a push
outcome but no Evaluator; ``evaluated_run`` adds an Evaluator's verdict,
metrics, ``metrics.json`` and figures of every kind, and figures in the
Trainer's ``model_run``. How each kind is drawn: ``test_report_figures.py``.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

from components.figures import ARRAYS_FILE, Figure, write_figures
from pipelines.config import DatasetConfig, PipelineConfig
from pipelines.report import write_report
from pipelines.runner import Paths
from pipelines.runs import RunRecord, Step

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EVIL = "<b>bold</b> & co"
ESCAPED_EVIL = "&lt;b&gt;bold&lt;/b&gt; &amp; co"


def _artifact(uri: Path, **properties) -> metadata_store_pb2.Artifact:
    artifact = metadata_store_pb2.Artifact(uri=str(uri))
    for key, value in properties.items():
        field = {int: "int_value", float: "double_value"}.get(type(value), "string_value")
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
        Step("Trainer", "cached", 0.1, {"model_run": [_artifact(model_run)],
                                        "model": [_artifact(root / "Trainer" / "model" / "3")]}),
        Step("Pusher", "ran", 0.1, {"pushed_model": [_artifact(
            root / "Pusher" / "pushed_model" / "4", pushed=0, push_reason="model not blessed")]}),
    ]
    config = PipelineConfig(name="tiny", description="", dataset=DatasetConfig("tiny"),
                            preprocessing_fn="x.preprocessing_fn", model="cnn", num_classes=3)
    return RunRecord("tiny", "2026-01-02T03:04:05.6", 1.7e9, steps), Paths(str(tmp_path)), config


EVALUATION_FIGURES = [
    Figure("confusion", "confusion_matrix", "Confusion matrix (eval split)", "True class by predicted class.",
           arrays={"counts": np.array([[8, 1, 1], [0, 5, 0], [1, 0, 4]])}, labels={"classes": ["0", "1", "2"]}),
    Figure("samples", "image_grid", "Generated samples, one row per class",
           arrays={"images": np.random.default_rng(0).random((3, 10, 8, 8))}, labels={"rows": ["0", "1", "2"]}),
    Figure("scores", "histogram", "Anomaly scores",
           arrays={"clean": np.linspace(0, 1, 50), "corrupted": np.linspace(0.5, 2, 50)}),
    Figure("attention", "heatmap", f"Attention: {EVIL}", EVIL,
           arrays={"weights": np.eye(4, 6)}, labels={"rows": list("2021"), "columns": list("12 may")}),
    Figure("slices", "table", "Metrics per slice",
           labels={"header": ["slice", "accuracy"], "rows": [["overall", "0.9412"], ["label = 1", "1.0"]]}),
]
TRAINING_FIGURES = [
    Figure("rbm_filters", "image_grid", "First RBM: weights of hidden units 1-64",
           arrays={"images": np.random.default_rng(1).random((8, 8, 8, 8))}),
]


@pytest.fixture
def evaluated_run(minimal_run) -> tuple[RunRecord, Paths, PipelineConfig]:
    """``minimal_run`` with an Evaluator (not blessed), its ``metrics.json`` and figures, and a figure
    in the Trainer's ``model_run``."""
    record, paths, config = minimal_run
    write_figures(record.output("Trainer", "model_run").uri, TRAINING_FIGURES)
    evaluation = Path(paths.pipeline_root("tiny")) / "Evaluator" / "evaluation" / "5"
    write_figures(str(evaluation), EVALUATION_FIGURES)
    (evaluation / "metrics.json").write_text(json.dumps({
        "metrics": {"accuracy": 0.85, "fid": 12.5}, "baseline_metrics": {"accuracy": 0.9, "fid": 10.0},
        "checks": [{"metric": "accuracy", "check": "no_regression", "value": 0.85, "baseline": 0.9,
                    "tolerance": 0.01, "ok": False}],
        "blessed": False}))
    blessing = Path(paths.pipeline_root("tiny")) / "Evaluator" / "blessing" / "5"
    record.steps.insert(3, Step("Evaluator", "ran", 3.0, {
        "evaluation": [_artifact(evaluation, **{"metric:accuracy": 0.85})],
        "blessing": [_artifact(blessing, blessed=0, not_blessed_reasons="accuracy 0.85 worse than 0.9")]}))
    return record, paths, config


def _sections(page: str) -> list[str]:
    return re.findall(r'<section id="(\w+)">', page)


def _section(page: str, name: str) -> str:
    match = re.search(rf'<section id="{name}">(.*?)</section>', page, re.DOTALL)
    assert match, f"no {name} section"
    return match.group(1)


def _figure(page: str, div_id: str) -> str:
    match = re.search(rf'<div class="figure" id="{div_id}">(.*?)</div>', page, re.DOTALL)
    assert match, f"no figure {div_id}"
    return match.group(1)


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC, path
    assert path.stat().st_size > 2_000, path
    height, width = mpimg.imread(path).shape[:2]
    assert 150 < height < 2_000 and 150 < width < 2_000, (path, height, width)


def test_report_of_minimal_run(minimal_run) -> None:
    record, paths, config = minimal_run
    index = Path(write_report(record, paths, config))
    assert index == Path(paths.reports("tiny")) / "2026-01-02T03-04-05.6" / "index.html"
    page = index.read_text()
    assert _sections(page) == ["run", "data", "training", "push"]  # no Evaluator, no evaluation section
    assert "could not be rendered" not in page
    assert "<td>Trainer</td><td>cached</td>" in page
    assert "<td>text</td><td>STRING</td><td>99</td><td>1</td>" in page  # count, missing (train split)
    assert ESCAPED_EVIL in page and EVIL not in page
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


def test_a_failing_section_is_explained_and_the_others_render(minimal_run) -> None:
    record, paths, config = minimal_run
    statistics = Path(record.output("StatisticsGen", "statistics").uri)
    (statistics / "Split-eval" / "FeatureStats.pb").write_bytes(b"not a proto")
    page = Path(write_report(record, paths, config)).read_text()
    assert _sections(page) == ["run", "data", "training", "push"]
    assert "The data section could not be rendered: DecodeError" in _section(page, "data")
    assert "could not be rendered" not in page.replace(_section(page, "data"), "")
    assert "NOT PUSHED: model not blessed" in _section(page, "push")


def test_every_figure_is_rendered(evaluated_run) -> None:
    record, paths, config = evaluated_run
    index = Path(write_report(record, paths, config))
    page = index.read_text()
    assert _sections(page) == ["run", "data", "training", "evaluation", "push"]
    assert "could not be rendered" not in page
    for section, prefix, figures in (("training", "training", TRAINING_FIGURES),
                                     ("evaluation", "evaluation", EVALUATION_FIGURES)):
        html = _section(page, section)
        ids = re.findall(r'<div class="figure" id="([\w.-]+)">', html)
        assert ids == [f"{prefix}-{f.name}" for f in figures]  # every figure, in order, in its section
        for figure in figures:
            block = _figure(html, f"{prefix}-{figure.name}")
            assert f"<h3>{figure.title}</h3>".replace(EVIL, ESCAPED_EVIL) in block
            if figure.kind == "table":
                assert "<img" not in block
                for row in figure.labels["rows"]:
                    assert "<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" in block
            else:
                images = re.findall(r'<img src="([^"]+)"', block)
                assert images == [f"{prefix}-{figure.name}.png"]
                _assert_png(index.parent / images[0])
    assert f"<p>{ESCAPED_EVIL}</p>" in page and EVIL not in page  # captions and titles are escaped


def test_evaluation_shows_verdict_metrics_and_checks(evaluated_run) -> None:
    record, paths, config = evaluated_run
    evaluation = _section(Path(write_report(record, paths, config)).read_text(), "evaluation")
    assert "NOT BLESSED: accuracy 0.85 worse than 0.9" in evaluation
    assert "<tr><th>metric</th><th>candidate</th><th>baseline</th></tr>" in evaluation
    assert "<td>accuracy</td><td>0.85</td><td>0.9</td>" in evaluation  # from ML Metadata, baseline from the file
    assert "<td>fid</td><td>12.5</td><td>10</td>" in evaluation  # only in metrics.json
    assert ("<td>accuracy</td><td>no_regression</td><td>0.85</td><td>0.9</td><td>0.01</td><td>no</td>"
            in evaluation)


def test_broken_figure_file_is_explained_and_the_rest_renders(evaluated_run) -> None:
    record, paths, config = evaluated_run
    evaluation_uri = Path(record.output("Evaluator", "evaluation").uri)
    (evaluation_uri / ARRAYS_FILE).write_bytes(b"not a zip file")
    (evaluation_uri / "metrics.json").write_text("{not json")
    page = Path(write_report(record, paths, config)).read_text()
    assert _sections(page) == ["run", "data", "training", "evaluation", "push"]
    evaluation = _section(page, "evaluation")
    assert f"The figures in {evaluation_uri} could not be rendered: ValueError" in evaluation  # numpy: no zip
    assert f"The metrics of {evaluation_uri} could not be rendered: JSONDecodeError" in evaluation
    assert "NOT BLESSED" in evaluation and 'class="figure"' not in evaluation
    assert 'id="training-rbm_filters"' in _section(page, "training")
    assert "could not be rendered" not in page.replace(evaluation, "")


def test_one_broken_figure_is_explained_and_the_others_render(evaluated_run) -> None:
    record, paths, config = evaluated_run
    broken = Figure("broken", "heatmap", "Broken heatmap", arrays={"weights": np.zeros((2, 3))},
                    labels={"rows": ["only one label"]})
    write_figures(record.output("Evaluator", "evaluation").uri, [EVALUATION_FIGURES[0], broken,
                                                                  *EVALUATION_FIGURES[1:]])
    evaluation = _section(Path(write_report(record, paths, config)).read_text(), "evaluation")
    assert ("Figure &#x27;broken&#x27; (Broken heatmap) could not be rendered: ValueError: 1 row labels for 2 rows"
            in evaluation)
    ids = re.findall(r'<div class="figure" id="([\w.-]+)">', evaluation)
    assert ids == [f"evaluation-{f.name}" for f in EVALUATION_FIGURES]


def test_report_reads_artifacts_without_tensorflow_or_tfx(evaluated_run, tmp_path: Path) -> None:
    """The report, written in a fresh interpreter, imports neither TensorFlow, TFX, TFMA nor Keras
    (and so loads no model: the Trainer's ``model`` artifact here does not even exist)."""
    arguments = tmp_path / "arguments.pickle"
    arguments.write_bytes(pickle.dumps(evaluated_run))
    script = (
        "import pickle, sys\n"
        "from pipelines.report import write_report\n"
        f"path = write_report(*pickle.loads(open({str(arguments)!r}, 'rb').read()))\n"
        "heavy = {m.split('.')[0] for m in sys.modules} & {'tensorflow', 'tfx', 'tensorflow_model_analysis', 'keras'}\n"
        "print(path, sorted(heavy))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2], timeout=300).stdout
    path, heavy = out.strip().split(" ", 1)
    assert heavy == "[]"
    assert "could not be rendered" not in Path(path).read_text()


def test_training_section_says_how_to_open_tensorboard(tmp_path):
    from pipelines.report import training

    run = tmp_path / "model_run"
    (run / "train").mkdir(parents=True)
    assert training.tensorboard_html(str(run)) == ""
    (run / "train" / "events.out.tfevents.1.host").write_bytes(b"")
    assert f"tensorboard --logdir {run}" in training.tensorboard_html(str(run))

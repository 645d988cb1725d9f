"""The TFMA Evaluator wrapper and the factory's evaluator wiring.

The wrapper runs the stock TFX Evaluator on a toy classifier with the
factory's EvalConfig, then records the verdict and writes the report's
figures read back from TFMA (confusion matrix, per-slice metrics), checked
against numpy. The factory: thresholds that name an unknown metric or contradict
a metric's direction fail when the pipeline is built; each evaluator is given
the family's signature roles.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("tfx")
import tensorflow as tf
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx.types import artifact_utils, standard_artifacts

from components.evaluator import component
from components.figures import read_figures
from pipelines import evaluators, factory, nodes, registry
from pipelines.config import Threshold
from tests.fixtures import toy_model

SEED = 5
N = 150


@pytest.fixture(scope="module")
def tfma_run(tmp_path_factory):
    """The wrapper's Do() on the toy model (weights from ``SEED``) over ``N`` labelled examples."""
    root = tmp_path_factory.mktemp("tfma")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 17, (N, toy_model.NUM_PIXELS))
    labels = rng.integers(0, toy_model.NUM_CLASSES, N)
    os.makedirs(root / "examples" / "Split-eval")
    with tf.io.TFRecordWriter(str(root / "examples" / "Split-eval" / "data.gz"), "GZIP") as writer:
        for image, label in zip(images, labels):
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                "image": tf.train.Feature(int64_list=tf.train.Int64List(value=image.tolist())),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))})
            ).SerializeToString())
    os.rename(toy_model.write_toy_model(str(root / "model"), 1, seed=SEED), root / "model" / "Format-Serving")

    examples, model = standard_artifacts.Examples(), standard_artifacts.Model()
    examples.uri, model.uri = str(root / "examples"), str(root / "model")
    examples.split_names = artifact_utils.encode_split_names(["eval"])
    model.id = 11
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(root / "evaluation"), str(root / "blessing")
    config = registry.get("digits")  # accuracy >= 0.97, label slices
    component.Executor().Do({"examples": [examples], "model": [model]},
                            {"evaluation": [evaluation], "blessing": [blessing]},
                            {"eval_config": json_format.MessageToJson(evaluators.eval_config(config)),
                             "example_splits": json.dumps(["eval"]), "fairness_indicator_thresholds": "null"})
    predicted = np.argmax(toy_model.toy_predict(images, SEED), axis=1)
    return evaluation, blessing, labels, predicted


def test_tfma_confusion_matrix_figure_is_tfmas_own(tfma_run):
    evaluation, _, labels, predicted = tfma_run
    figures = {f.name: f for f in read_figures(evaluation.uri)}
    assert list(figures) == ["confusion_matrix", "metrics_per_slice"]
    matrix = figures["confusion_matrix"]
    assert matrix.kind == "confusion_matrix"
    size = max(labels.max(), predicted.max()) + 1
    expected = np.zeros((size, size), np.int64)
    np.add.at(expected, (labels, predicted), 1)
    np.testing.assert_array_equal(matrix.arrays["counts"], expected)
    assert matrix.labels["classes"] == [str(c) for c in range(size)]


def test_tfma_per_slice_table_verdict_and_metrics(tfma_run):
    evaluation, blessing, labels, predicted = tfma_run
    accuracy = float(np.mean(labels == predicted))
    table = {f.name: f for f in read_figures(evaluation.uri)}["metrics_per_slice"]
    header, rows = table.labels["header"], table.labels["rows"]
    assert header[0] == "slice" and "sparse_categorical_accuracy" in header and "example_count" in header
    column = header.index("sparse_categorical_accuracy")
    assert rows[0][0] == "overall" and float(rows[0][column]) == pytest.approx(accuracy, abs=1e-3)
    by_label = {row[0]: row for row in rows[1:]}
    for c in np.unique(labels):
        row = by_label[f"label = {c}"]
        assert float(row[header.index("example_count")]) == np.sum(labels == c)
        assert float(row[column]) == pytest.approx(np.mean(predicted[labels == c] == c), abs=1e-3)

    assert evaluation.get_float_custom_property("metric:sparse_categorical_accuracy") == pytest.approx(accuracy)
    assert blessing.get_int_custom_property("blessed") == 0  # a toy model is far below 0.97
    reasons = blessing.get_string_custom_property("not_blessed_reasons")
    assert reasons == f"sparse_categorical_accuracy {accuracy:.4f} below the lower bound 0.97"
    with open(os.path.join(evaluation.uri, "metrics.json")) as f:
        written = json.load(f)
    assert written["blessed"] is False and written["not_blessed_reasons"] == [reasons]
    assert written["metrics"]["sparse_categorical_accuracy"] == pytest.approx(accuracy)


# ------------------------------------------------------------------- the factory

def _thresholds(config):
    specs = evaluators.eval_config(config).metrics_specs[0].metrics
    return {m.class_name: m for m in specs}


def test_eval_config_asks_tfma_for_the_confusion_matrix_and_keeps_directions():
    metrics = _thresholds(registry.get("digits"))
    assert {"ExampleCount", component.CONFUSION_MATRIX_PLOT, "SparseCategoricalAccuracy"} == set(metrics)
    threshold = metrics["SparseCategoricalAccuracy"].per_slice_thresholds[0].threshold
    assert threshold.value_threshold.lower_bound.value == 0.97
    assert threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert threshold.change_threshold.absolute.value < 0  # a tie is no regression
    # A metric the project does not list keeps the threshold's own direction.
    loss = registry.get("digits").with_overrides(thresholds=(
        Threshold("sparse_categorical_crossentropy_x", upper_bound=0.5, higher_is_better=False),))
    change = _thresholds(loss)["SparseCategoricalCrossentropyX"].per_slice_thresholds[0].threshold.change_threshold
    assert change.direction == tfma.MetricDirection.LOWER_IS_BETTER and change.absolute.value > 0


@pytest.mark.parametrize("pipeline, threshold, error", [
    ("digits", Threshold("sparse_categorical_accuracy", lower_bound=0.9, higher_is_better=False), "higher is better"),
    ("digits_vae", Threshold("neg_elbo", upper_bound=40.0), "lower is better"),
    ("digits_gan", Threshold("accuracy", lower_bound=0.9), "unknown metric 'accuracy'"),
    ("dates", Threshold("fid", upper_bound=1.0, higher_is_better=False), "unknown metric 'fid'"),
])
def test_bad_thresholds_fail_when_the_pipeline_is_built(tmp_path, pipeline, threshold, error):
    config = registry.get(pipeline).with_overrides(thresholds=(threshold,))
    with pytest.raises(ValueError, match=error):
        factory.create_pipeline(config, str(tmp_path), str(tmp_path / "m.sqlite"), str(tmp_path / "serving"))


def _evaluator_of(pipeline: str, tmp_path):
    built = factory.create_pipeline(registry.get(pipeline), str(tmp_path), str(tmp_path / "m.sqlite"),
                                    str(tmp_path / "serving"))
    return next(c for c in built.components if c.id == nodes.EVALUATOR)


def test_evaluators_get_the_familys_signature_roles(tmp_path):
    cgan = _evaluator_of("digits_cgan", tmp_path).exec_properties
    assert json.loads(cgan["signature_roles"]) == {"generate": "generate"}
    assert json.loads(cgan["image_shape"]) == [8, 8, 1] and cgan["image_scale"] == 255.0
    assert json.loads(cgan["thresholds"])["class_consistency"] == {"lower_bound": 0.9}
    vae = _evaluator_of("digits_vae", tmp_path).exec_properties
    assert json.loads(vae["signature_roles"]) == {"encode": "encode", "decode": "decode", "sample": "sample"}
    dates = _evaluator_of("dates", tmp_path).exec_properties
    assert json.loads(dates["signature_roles"]) == {"translate": "translate", "translate_beam": "translate"}
    assert dates["char_level"] == 1 and dates["target_key"] == "target" and dates["source_key"] == "source"
    digits = _evaluator_of("digits", tmp_path)
    assert isinstance(digits, component.RecordingEvaluator)


def test_tfma_runs_once_when_the_baseline_is_the_candidate(monkeypatch):
    seen = []

    class Stop(Exception):
        pass

    def stock_do(self, inputs, outputs, props):
        seen.append(sorted(inputs))
        raise Stop

    monkeypatch.setattr(component.stock_executor.Executor, "Do", stock_do)
    candidate, other = standard_artifacts.Model(), standard_artifacts.Model()
    candidate.uri, other.uri = "/m/1", "/m/2"
    candidate.id, other.id = 1, 2
    for baseline, want in ((candidate, ["examples", "model"]), (other, ["baseline_model", "examples", "model"])):
        with pytest.raises(Stop):
            component.Executor().Do({"examples": [], "model": [candidate], "baseline_model": [baseline]}, {}, {})
        assert seen.pop() == want


# ------------------------------------------------------- the executor's Beam setup

def test_the_default_beam_args_spare_the_evaluator_tfxs_ephemeral_package(monkeypatch):
    """A Beam executor packages TFX for remote workers (a copy of its install and ``setup.py sdist``)
    unless its Beam args name a dependency; the in-process default does, so nothing is built."""
    from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor
    from tfx.utils import dependency_utils

    from orchestration.beam import check_beam_args
    from pipelines.runner import DEFAULT_BEAM_ARGS

    built = []
    monkeypatch.setattr(dependency_utils, "build_ephemeral_package", lambda: built.append(1) or "/tmp/tfx.tar.gz")
    executor = component.Executor(BaseBeamExecutor.Context(beam_pipeline_args=list(DEFAULT_BEAM_ARGS)))
    assert not built and not [a for a in executor._beam_pipeline_args if a.startswith("--extra_package")]
    assert check_beam_args(DEFAULT_BEAM_ARGS) == list(DEFAULT_BEAM_ARGS)  # still the in-process DirectRunner
    component.Executor(BaseBeamExecutor.Context(beam_pipeline_args=["--direct_running_mode=in_memory"]))
    assert built  # without it, TFX packages itself

"""The digits pipeline end to end, through the CLI, on a small epoch budget.

One output folder is shared by the tests in order: a first run pushes a
model; an unchanged re-run reuses every cached component and pushes nothing
new; a deliberately bad model is neither blessed nor pushed. A drifted
dataset stops at ExampleValidator in a folder of its own.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.fixtures.served import served_clients

pytestmark = pytest.mark.pipeline

EPOCHS = 8


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("digits_run"))


def _zoo(*argv: str) -> int:
    from zoo.cli import main
    return main(list(argv))


def _runs(output: str):
    from pipelines.runs import load_runs
    return load_runs(os.path.join(output, "metadata.sqlite"), "digits")


def _versions(output: str) -> list[int]:
    from serving.versions import list_versions
    return list_versions(os.path.join(output, "serving", "digits_cnn"))


def _heldout_digits():
    """The eval split, as raw tf.Examples and as arrays, straight from TFDS."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    import datasets  # noqa: F401  (registers 'digits')
    images, labels, serialized = [], [], []
    for row in tfds.as_numpy(tfds.builder("digits").as_dataset(split="test")):
        pixels = row["image"].reshape(-1).astype(np.int64)
        images.append(pixels)
        labels.append(int(row["label"]))
        serialized.append(tf.train.Example(features=tf.train.Features(feature={
            "image": tf.train.Feature(int64_list=tf.train.Int64List(value=pixels)),
        })).SerializeToString())
    return np.stack(images), np.array(labels), serialized


def test_first_run_pushes_a_servable_model(output, capsys):
    assert _zoo("run", "digits", "--epochs", str(EPOCHS), "--output", output) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "PUSHED version" in printed and "report: " in printed
    assert "INFO" not in captured.err, captured.err  # e.g. ML Metadata's connection line once the run is over
    report = printed.split("report: ")[1].split()[0]
    assert os.path.isfile(report)
    # Quiet: the summary only; TensorFlow's, Beam's and TFX's output is in the run's log.
    assert len(printed.strip().splitlines()) <= 8, printed
    log = printed.split("log: ")[1].split()[0]
    with open(log) as f:
        logged = f.read()
    assert "Component Trainer is finished." in logged
    assert "ran out of data" not in logged  # one pass of known length per epoch
    model_run = _runs(output)[-1].step("Trainer").outputs["model_run"][0].uri
    assert any(name.startswith("events.out.tfevents") for _, _, files in os.walk(model_run) for name in files)

    versions = _versions(output)
    assert len(versions) == 1
    version_dir = os.path.join(output, "serving", "digits_cnn", str(versions[0]))
    assert os.path.isfile(os.path.join(version_dir, "saved_model.pb"))
    assert os.path.isfile(os.path.join(version_dir, "variables", "variables.index"))
    # Nothing but complete, integer-named versions under the model base path.
    assert os.listdir(os.path.dirname(version_dir)) == [str(versions[0])]

    import tensorflow as tf
    model = tf.saved_model.load(version_dir)
    assert {"serving_default", "predict", "predict_raw"} <= set(model.signatures)
    images, labels, serialized = _heldout_digits()
    by_examples = model.signatures["serving_default"](examples=tf.constant(serialized))
    by_raw = model.signatures["predict_raw"](image=tf.constant(images))
    np.testing.assert_allclose(by_examples["probabilities"].numpy(), by_raw["probabilities"].numpy(),
                               atol=1e-5)
    accuracy = float(np.mean(by_examples["classes"].numpy() == labels))
    assert accuracy >= 0.95, f"held-out accuracy {accuracy:.4f} after {EPOCHS} epochs"

    run = _runs(output)[-1]
    assert run.status == "succeeded" and run.blessed is True
    assert run.metrics["sparse_categorical_accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_pushed_model_answers_tf_serving_rest_and_grpc(output):
    """The pushed version, served over TF Serving's APIs, called with its official stubs."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    images, labels, _ = _heldout_digits()
    base = os.path.join(output, "serving", "digits_cnn")
    with served_clients("digits_cnn", base) as served:
        rest, server = served.rest, served.server
        status, body = rest.request("POST", "/v1/models/digits_cnn:predict", {
            "signature_name": "predict_raw", "instances": [{"image": row.tolist()} for row in images[:50]]})
        assert status == 200
        classes = [p["classes"] for p in body["predictions"]]
        assert np.mean(np.array(classes) == labels[:50]) >= 0.9

        status, body = rest.request("POST", "/v1/models/digits_cnn:classify", {
            "signature_name": "classification", "examples": [{"image": row.tolist()} for row in images[:5]]})
        assert status == 200 and len(body["results"]) == 5
        best = [max(result, key=lambda pair: pair[1])[0] for result in body["results"]]
        assert best == [str(c) for c in classes[:5]]

        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "digits_cnn"
            request.model_spec.signature_name = "predict_raw"
            request.inputs["image"].CopyFrom(tf.make_tensor_proto(images[:50]))
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
        assert tf.make_ndarray(response.outputs["classes"]).tolist() == classes


def test_unchanged_rerun_is_a_no_op(output, capsys):
    runs, before = len(_runs(output)), _versions(output)
    assert _zoo("run", "digits", "--epochs", str(EPOCHS), "--output", output) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and printed[0].startswith("nothing changed since run ")
    assert len(_runs(output)) == runs and _versions(output) == before


def test_unchanged_forced_rerun_is_cached_and_not_pushed_again(output, capsys):
    before = _versions(output)
    assert _zoo("run", "digits", "--epochs", str(EPOCHS), "--output", output, "--no-report", "--force") == 0
    assert "NOT PUSHED AGAIN: identical to served version" in capsys.readouterr().out
    assert _versions(output) == before
    states = {s.node: s.state for s in _runs(output)[-1].steps}
    for node in ("TfdsExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                 "Transform", "Trainer", "ServingValidator"):
        assert states[node] == "cached", states


def test_bad_model_is_not_blessed_nor_pushed(output, capsys):
    before = _versions(output)
    code = _zoo("run", "digits", "--epochs", "1", "--hparam", "learning_rate=1e-6",
                "--output", output, "--no-report")
    printed = capsys.readouterr().out
    assert code == 3
    assert "NOT PUSHED: not blessed by the Evaluator: sparse_categorical_accuracy" in printed
    assert "below the lower bound 0.97" in printed
    assert _versions(output) == before
    run = _runs(output)[-1]
    states = {s.node: s.state for s in run.steps}
    # A hyperparameter change re-runs the Trainer and what follows, nothing before it.
    assert states["Transform"] == "cached" and states["StatisticsGen"] == "cached"
    assert states["Trainer"] == "ran" and states["Evaluator"] == "ran"
    assert run.blessed is False and not run.push.get("pushed")


def test_runs_lists_every_run_from_ml_metadata(output, capsys):
    assert _zoo("runs", "digits", "--output", output) == 0
    rows = capsys.readouterr().out.strip().splitlines()[1:]
    assert len(rows) == 4
    first, no_op, rerun, bad = rows
    assert "succeeded" in first and " yes " in first and "sparse_categorical_accuracy=" in first
    assert " no-op " in no_op and "same v" in no_op and "nothing changed since" in no_op
    assert "same v" in rerun
    assert " no " in bad


def test_drifted_data_stops_at_example_validator(tmp_path, capsys):
    code = _zoo("run", "digits", "--dataset", "drifted_digits",
                "--builder-module", "tests.fixtures.drifted_digits",
                "--epochs", "1", "--output", str(tmp_path), "--no-report")
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 1
    assert len(errors) == 1
    assert errors[0].startswith("error: pipeline 'digits' failed: stopped at ExampleValidator: data anomalies:")
    assert "feature 'stroke_width': New column" in errors[0]
    assert "feature 'label': Out-of-range values" in errors[0]
    states = {s.node: s.state for s in _runs(str(tmp_path))[-1].steps}
    assert states["ExampleValidator"] == "failed"
    assert "Transform" not in states and "Trainer" not in states

"""The expression-tree pipeline end to end on a tiny budget: TFDS -> Transform (tree checks) ->
recursive network -> TFMA -> serving validation -> push; the pushed model answers trees over
REST and gRPC, and a malformed or cyclic tree is a 400 (INVALID_ARGUMENT), never a crash."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.fixtures.served import served_clients
from tests.pipelines.test_family_pipelines import _call_every_signature, _run

pytestmark = pytest.mark.pipeline

MODEL = "expressions_recursive_nn"
UNITS = 8
# (1 + 2) * 3 and the single digit 7, post-order with child indices.
TREES = [{"nodes": "1 2 + 3 *", "left": "-1 -1 0 -1 2", "right": "-1 -1 1 -1 3"},
         {"nodes": "7", "left": "-1", "right": "-1"}]
MALFORMED = {
    "cycle": {"nodes": "1 2 +", "left": "-1 -1 2", "right": "-1 -1 1"},
    "child out of range": {"nodes": "1 2 +", "left": "-1 -1 0", "right": "-1 -1 9"},
    "two parents": {"nodes": "1 2 +", "left": "-1 -1 0", "right": "-1 -1 0"},
    "too few indices": {"nodes": "1 2 +", "left": "-1 -1", "right": "-1 -1 1"},
    "not a number": {"nodes": "1 2 +", "left": "-1 -1 zero", "right": "-1 -1 1"},
    "empty": {"nodes": "", "left": "", "right": ""},
    "too many nodes": {"nodes": " ".join(["1"] + ["1 +"] * 40),
                       "left": " ".join(["-1"] + [f"-1 {2 * i}" for i in range(40)]),
                       "right": " ".join(["-1"] + [f"-1 {2 * i + 1}" for i in range(40)])},
}


@pytest.fixture(scope="module")
def pushed(tmp_path_factory) -> tuple[str, str, object]:
    from pipelines import registry
    from pipelines.config import Threshold

    config = registry.get(MODEL).with_overrides(
        hparams={"epochs": 1, "steps_per_epoch": 5, "units": UNITS, "embedding_dim": 4, "hidden_units": 8},
        thresholds=(Threshold("sparse_categorical_accuracy", lower_bound=0.0, no_regression=False),))
    output = str(tmp_path_factory.mktemp("trees"))
    run = _run(config, output)
    assert run.status == "succeeded", [(s.node, s.state) for s in run.steps]
    assert run.blessed is True and run.push.get("pushed") == 1, (run.not_blessed_reasons, run.push)
    assert "sparse_categorical_accuracy" in run.metrics
    return output, run.push["pushed_destination"], run


def test_pipeline_pushes_a_model_that_answers_every_signature(pushed):
    import glob

    import tensorflow as tf

    output, version_dir, _ = pushed
    assert os.path.isfile(os.path.join(version_dir, "saved_model.pb"))
    assert os.listdir(os.path.join(version_dir, "assets")), "no vocabulary asset in the pushed model"
    files = glob.glob(os.path.join(output, "pipelines", MODEL, "TfdsExampleGen", "examples", "*", "Split-eval", "*.gz"))
    records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(4)]
    outputs = _call_every_signature(version_dir, records)
    assert {"serving_default", "predict"} <= set(outputs)
    assert outputs["predict"]["root"].shape == (4, UNITS)
    assert np.all(np.isfinite(outputs["predict"]["probabilities"]))

    loaded = tf.saved_model.load(version_dir)
    raw = loaded.signatures["predict_raw"]
    _, kwargs = raw.structured_input_signature
    assert set(kwargs) == {"nodes", "left", "right"}  # just the tree: no sequence, depth or label


def test_served_trees_over_rest_and_grpc_and_malformed_trees_are_400(pushed):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    output, version_dir, _ = pushed
    local = tf.saved_model.load(version_dir).signatures["predict_raw"](
        **{k: tf.constant([t[k] for t in TREES]) for k in ("nodes", "left", "right")})
    base = os.path.join(output, "serving", MODEL)
    with served_clients(MODEL, base) as served:
        rest, server = served.rest, served.server
        status, body = rest.request("POST", f"/v1/models/{MODEL}:predict",
                                    {"signature_name": "predict_raw", "instances": TREES})
        assert status == 200, body
        predictions = body["predictions"]
        assert [p["classes"] for p in predictions] == local["classes"].numpy().tolist()
        np.testing.assert_allclose([p["root"] for p in predictions], local["root"].numpy(), rtol=1e-5, atol=1e-6)
        assert all(0 <= p["classes"] <= 9 and len(p["root"]) == UNITS for p in predictions)
        for p, tree in zip(predictions, TREES):  # the classifier on every node: the root's is the tree's class
            size = len(tree["nodes"].split())
            assert p["node_classes"][size - 1] == p["classes"] and set(p["node_classes"][size:]) == {-1}

        for name, tree in MALFORMED.items():
            status, body = rest.request("POST", f"/v1/models/{MODEL}:predict",
                                        {"signature_name": "predict_raw", "instances": [TREES[0], tree]})
            assert status == 400, (name, status, body)
            assert body.get("error"), (name, body)
            if name not in ("not a number",):
                assert "malformed tree" in body["error"], (name, body)

        with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

            def predict(trees: list[dict]) -> predict_pb2.PredictResponse:
                request = predict_pb2.PredictRequest()
                request.model_spec.name = MODEL
                request.model_spec.signature_name = "predict_raw"
                for key in ("nodes", "left", "right"):
                    request.inputs[key].CopyFrom(tf.make_tensor_proto([t[key] for t in trees]))
                return stub.Predict(request, timeout=60)

            response = predict(TREES)
            assert tf.make_ndarray(response.outputs["classes"]).tolist() == local["classes"].numpy().tolist()
            assert tf.make_ndarray(response.outputs["root"]).shape == (2, UNITS)
            with pytest.raises(grpc.RpcError) as error:
                predict([MALFORMED["cycle"]])
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "malformed tree" in error.value.details()

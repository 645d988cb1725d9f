"""REST API, plain HTTP against a server on a free loopback port."""

from __future__ import annotations

import base64
import http.client
import json

import numpy as np
import pytest

from serving.client import b64
from tests.fixtures import toy_model

EXPECTED_STATES = {"latest": ["3"], "latest2": ["3", "2"], "pinned": ["2"], "all": ["3", "2", "1"]}


def _probs(rows):
    return np.array(rows, dtype=np.float64)


@pytest.mark.parametrize("model", sorted(EXPECTED_STATES))
def test_status_lists_the_versions_each_policy_serves(rest, model):
    status = rest.status(model)
    versions = [s["version"] for s in status["model_version_status"]]
    assert versions == EXPECTED_STATES[model]
    assert {s["state"] for s in status["model_version_status"]} == {"AVAILABLE"}
    assert status["model_version_status"][0]["status"] == {"error_code": "OK", "error_message": ""}


def test_status_of_one_version_and_label(rest):
    assert [s["version"] for s in rest.status("all", version=2)["model_version_status"]] == ["2"]
    assert [s["version"] for s in rest.status("all", label="stable")["model_version_status"]] == ["1"]


def test_metadata_has_tf_serving_shape(rest):
    meta = rest.metadata("all", version=1)
    assert meta["model_spec"] == {"name": "all", "signature_name": "", "version": "1"}
    sigs = meta["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "predict_raw", "classification", "regression"} <= set(sigs)
    default = sigs["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"]["examples"]["dtype"] == "DT_STRING"
    assert default["outputs"]["probabilities"]["tensor_shape"]["dim"][1]["size"] == "10"
    assert sigs["classification"]["method_name"] == "tensorflow/serving/classify"


def test_predict_row_format_with_b64_examples(rest, images):
    body = rest.predict("latest", instances=[b64(toy_model.make_example(i)) for i in images])
    rows = body["predictions"]
    assert len(rows) == len(images) and set(rows[0]) == {"probabilities", "classes"}
    want = toy_model.toy_predict(images, 3)
    np.testing.assert_allclose(_probs([r["probabilities"] for r in rows]), want, atol=1e-5)
    assert [r["classes"] for r in rows] == list(want.argmax(1))


def test_predict_row_format_named_inputs(rest, images):
    instances = [{"examples": b64(toy_model.make_example(i))} for i in images[:2]]
    rows = rest.predict("latest", instances=instances)["predictions"]
    np.testing.assert_allclose(_probs([r["probabilities"] for r in rows]), toy_model.toy_predict(images[:2], 3),
                               atol=1e-5)


def test_predict_columnar_format(rest, images):
    body = rest.predict("latest", inputs={"image": images.tolist()}, signature_name="predict_raw")
    outputs = body["outputs"]
    np.testing.assert_allclose(_probs(outputs["probabilities"]), toy_model.toy_predict(images, 3), atol=1e-5)
    plain = rest.predict("latest", inputs=images.tolist(), signature_name="predict_raw")["outputs"]
    assert plain == outputs


@pytest.mark.parametrize("how,expected_seed", [({"version": 1}, 1), ({"label": "stable"}, 1),
                                               ({"label": "canary"}, 3), ({}, 3)])
def test_predict_by_version_and_label(rest, images, how, expected_seed):
    rows = rest.predict("all", instances=images.tolist(), signature_name="predict_raw", **how)["predictions"]
    np.testing.assert_allclose(_probs([r["probabilities"] for r in rows]),
                               toy_model.toy_predict(images, expected_seed), atol=1e-5)


def test_classify_and_regress(rest, images):
    examples = [{"image": row.tolist()} for row in images[:3]]
    results = rest.classify("latest", examples, signature_name="classification")["results"]
    want = toy_model.toy_predict(images[:3], 3)
    assert [label for label, _ in results[0]] == [str(i) for i in range(10)]
    np.testing.assert_allclose([[s for _, s in r] for r in results], want, atol=1e-5)
    values = rest.regress("latest", examples, signature_name="regression")["results"]
    np.testing.assert_allclose(values, want.max(1), atol=1e-5)


def test_classify_with_context_merges_features(rest, images):
    # The whole image as context, empty examples: each example gets the context features.
    results = rest.classify("latest", [{}, {}], context={"image": images[0].tolist()},
                            signature_name="classification")["results"]
    want = toy_model.toy_predict(images[:1], 3)[0]
    for row in results:
        np.testing.assert_allclose([s for _, s in row], want, atol=1e-5)


BAD_REQUESTS = [
    ("malformed json", "/v1/models/latest:predict", b'{"instances": [1,', 400, "JSON Parse error"),
    ("not an object", "/v1/models/latest:predict", b"[1, 2]", 400, "Is not object"),
    ("empty body", "/v1/models/latest:predict", b"", 400, "document is empty"),
    ("wrong dtype", "/v1/models/latest:predict",
     {"signature_name": "predict_raw", "instances": [[0.5] * 64]}, 400, "is not of expected type: int64"),
    ("bool for int", "/v1/models/latest:predict",
     {"signature_name": "predict_raw", "instances": [[True] * 64]}, 400, "is not of expected type"),
    ("wrong shape", "/v1/models/latest:predict",
     {"signature_name": "predict_raw", "instances": [[1] * 63]}, 400, "Matrix size-incompatible: In[0]: [1,63]"),
    ("ragged", "/v1/models/latest:predict",
     {"signature_name": "predict_raw", "inputs": [[1] * 64, [1] * 63]}, 400, "unexpected size"),
    ("out of range", "/v1/models/latest:predict",
     {"signature_name": "predict_raw", "instances": [[2 ** 70] * 64]}, 400, "out of range"),
    ("unknown model", "/v1/models/nope:predict", {"instances": [1]}, 404, "Servable not found"),
    ("unknown version", "/v1/models/all/versions/7:predict", {"instances": [1]}, 404,
     "Specific(all, 7)"),
    ("unknown label", "/v1/models/all/labels/gold:predict", {"instances": [1]}, 400,
     "Unrecognized servable version label: gold"),
    ("unknown signature", "/v1/models/latest:predict", {"signature_name": "nope", "instances": [1]}, 400,
     '"nope" not found'),
    ("missing input", "/v1/models/latest:predict", {"signature_name": "predict_raw", "inputs": {"x": [1]}},
     400, "Missing named input: image"),
    ("wrong instance key", "/v1/models/latest:predict",
     {"signature_name": "predict_raw", "instances": [{"img": [1] * 64}]}, 400,
     "key: img of 'instances' list. Error: INVALID_ARGUMENT: JSON object: does not have named input: img"),
    ("no instances key", "/v1/models/latest:predict", {"foo": 1}, 400, "Missing 'inputs' or 'instances' key"),
    ("both keys", "/v1/models/latest:predict", {"inputs": [1], "instances": [1]}, 400, "only one of"),
    ("empty instances", "/v1/models/latest:predict", {"instances": []}, 400, "No values in 'instances'"),
    ("bad b64", "/v1/models/latest:predict", {"instances": [{"b64": "!!!"}]}, 400, "Unable to base64 decode"),
    ("unparseable example", "/v1/models/latest:predict",
     {"instances": [b64(b"not an example")]}, 400, "parse"),
    ("signature not a string", "/v1/models/latest:predict", {"signature_name": 3, "instances": [1]}, 400,
     "'signature_name' key must be a string"),
    ("classify on predict signature", "/v1/models/latest:classify", {"examples": [{"image": [1] * 64}]}, 400,
     "No classification inputs found in SignatureDef"),
    ("regress without examples", "/v1/models/latest:regress", {"signature_name": "regression"}, 400,
     "key 'examples' is expected"),
    ("unknown verb", "/v1/models/latest:explain", {"instances": [1]}, 400, "Malformed request"),
]


@pytest.mark.parametrize("name,path,body,status,message", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_4xx_with_a_clear_error(rest, name, path, body, status, message):
    got_status, payload = rest.request("POST", path, body)
    assert got_status == status, payload
    assert set(payload) == {"error"} and message in payload["error"], payload
    assert rest.status("latest")["model_version_status"][0]["state"] == "AVAILABLE"  # still serving


@pytest.mark.parametrize("path,status,message", [
    ("/v1/models", 400, "Missing model name"),
    ("/v1/models/nope", 404, "Could not find any versions of model nope"),
    ("/v1/models/all/versions/9", 404, "Could not find version 9 of model all"),
    ("/v1/models/all/labels/gold/metadata", 400, "Unrecognized servable version label"),
    ("/v1/models/all/versions/9/metadata", 404, "Servable not found"),
    ("/elsewhere", 404, "Not found"),
])
def test_bad_get_requests(rest, path, status, message):
    got_status, payload = rest.request("GET", path)
    assert got_status == status and message in payload["error"], payload


def test_body_over_the_limit_is_refused_with_413(server, rest):
    body = json.dumps({"instances": [b64(b"x" * (1 << 20))]}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", server.rest_port, timeout=10)
    conn.request("POST", "/v1/models/latest:predict", body=body)
    response = conn.getresponse()
    payload = json.loads(response.read())
    assert response.status == 413 and "exceeds the limit" in payload["error"]
    conn.close()
    assert rest.status("latest")["model_version_status"][0]["state"] == "AVAILABLE"


def test_bytes_outputs_and_urlencoded_names_round_trip(rest):
    # Model names in URLs are percent-decoded, as TF Serving does.
    assert rest.request("GET", "/v1/models/l%61test")[0] == 200
    assert base64.b64decode(b64(b"\x00\xff")["b64"]) == b"\x00\xff"

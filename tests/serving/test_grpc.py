"""gRPC API through the official tensorflow-serving-api stubs."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    predict_pb2,
)
from tensorflow_serving.config import model_server_config_pb2

from serving.client import model_spec
from serving.errors import ServingError
from serving.grpc_service import tensor_to_array
from tests.fixtures import toy_model


def test_predict_examples_and_raw(grpc_client, images):
    examples = np.array([toy_model.make_example(i) for i in images], dtype=object)
    out = grpc_client.predict("latest", {"examples": examples})
    np.testing.assert_allclose(out["probabilities"], toy_model.toy_predict(images, 3), atol=1e-5)
    assert out["classes"].dtype == np.int64
    raw = grpc_client.predict("all", {"image": images}, signature_name="predict_raw", label="stable",
                              output_filter=["classes"])
    assert set(raw) == {"classes"}
    np.testing.assert_array_equal(raw["classes"], toy_model.toy_predict(images, 1).argmax(1))


def test_predict_response_names_the_resolved_version(grpc_client, images):
    request = grpc_client.predict_request("all", {"image": images}, "predict_raw", label="canary")
    response = grpc_client.prediction.Predict(request)
    assert (response.model_spec.name, response.model_spec.version.value,
            response.model_spec.signature_name) == ("all", 3, "predict_raw")


def test_classify_regress_multi_inference(grpc_client, images):
    examples = [toy_model.make_example(i) for i in images[:2]]
    result = grpc_client.classify("pinned", examples).result
    want = toy_model.toy_predict(images[:2], 2)
    scores = [[c.score for c in row.classes] for row in result.classifications]
    np.testing.assert_allclose(scores, want, atol=1e-5)
    assert [c.label for c in result.classifications[0].classes] == [str(i) for i in range(10)]
    regressions = grpc_client.regress("pinned", examples).result.regressions
    np.testing.assert_allclose([r.value for r in regressions], want.max(1), atol=1e-5)
    request = inference_pb2.MultiInferenceRequest()
    request.tasks.add(model_spec=model_spec("pinned", signature_name="classification"),
                      method_name="tensorflow/serving/classify")
    request.tasks.add(model_spec=model_spec("pinned", signature_name="regression"),
                      method_name="tensorflow/serving/regress")
    request.input.example_list.examples.extend(tf.train.Example.FromString(e) for e in examples)
    response = grpc_client.prediction.MultiInference(request)
    assert len(response.results) == 2 and response.results[1].model_spec.version.value == 2


def test_metadata_and_status(grpc_client):
    sig_map = grpc_client.metadata("latest2", version=2)
    assert sig_map.signature_def["predict_raw"].inputs["image"].dtype == tf.int64.as_datatype_enum
    status = grpc_client.status("latest2")
    assert [s.version for s in status.model_version_status] == [3, 2]
    assert all(s.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE for s in status.model_version_status)
    request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=model_spec("latest"),
                                                             metadata_field=["something_else"])
    with pytest.raises(grpc.RpcError) as err:
        grpc_client.prediction.GetModelMetadata(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("kwargs,code,message", [
    ({"model": "nope", "inputs": {"image": np.zeros((1, 64), np.int64)}}, grpc.StatusCode.NOT_FOUND,
     "Servable not found"),
    ({"model": "latest", "inputs": {"image": np.zeros((1, 64), np.int64)}, "signature_name": "nope"},
     grpc.StatusCode.FAILED_PRECONDITION, 'Serving signature key "nope" not found.'),
    ({"model": "latest", "inputs": {"image": np.zeros((1, 64), np.float32)}, "signature_name": "predict_raw"},
     grpc.StatusCode.INVALID_ARGUMENT, "expects DT_INT64 but got DT_FLOAT"),
    ({"model": "latest", "inputs": {"image": np.zeros((1, 8), np.int64)}, "signature_name": "predict_raw"},
     grpc.StatusCode.INVALID_ARGUMENT, "Matrix size-incompatible: In[0]: [1,8]"),
    ({"model": "latest", "inputs": {}, "signature_name": "predict_raw"},
     grpc.StatusCode.INVALID_ARGUMENT, "Missing but required: {image}"),
    ({"model": "latest", "inputs": {"image": np.zeros((1, 64), np.int64), "x": [1]}, "signature_name": "predict_raw"},
     grpc.StatusCode.INVALID_ARGUMENT, "Sent extra: {x}"),
    ({"model": "latest", "inputs": {"image": np.zeros((1, 64), np.int64)}, "signature_name": "predict_raw",
          "output_filter": ["nope"]}, grpc.StatusCode.INVALID_ARGUMENT, "output tensor alias not found"),
    ({"model": "all", "inputs": {"image": np.zeros((1, 64), np.int64)}, "label": "gold"},
     grpc.StatusCode.INVALID_ARGUMENT, "Unrecognized servable version label"),
])
def test_predict_errors(grpc_client, kwargs, code, message):
    with pytest.raises(ServingError) as err:
        grpc_client.predict(**kwargs)
    assert err.value.code == code and message in err.value.message
    assert grpc_client.status("latest").model_version_status[0].version == 3


def test_malformed_tensor_proto_is_invalid_argument(grpc_client):
    request = predict_pb2.PredictRequest(model_spec=model_spec("latest", signature_name="predict_raw"))
    request.inputs["image"].dtype = tf.int64.as_datatype_enum
    request.inputs["image"].tensor_shape.dim.add(size=3)
    request.inputs["image"].tensor_shape.dim.add(size=64)
    request.inputs["image"].tensor_content = b"\x01" * 13  # not 3 * 64 int64 values
    with pytest.raises(grpc.RpcError) as err:
        grpc_client.prediction.Predict(request)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_request_over_the_size_limit(grpc_client):
    with pytest.raises(ServingError) as err:
        grpc_client.predict("latest", {"examples": np.array([b"x" * (2 << 20)], dtype=object)})
    assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_classify_needs_a_classify_signature(grpc_client, images):
    with pytest.raises(ServingError) as err:
        grpc_client.classify("latest", [toy_model.make_example(images[0])], signature_name="serving_default")
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "No classification inputs found in SignatureDef" in err.value.message
    with pytest.raises(ServingError) as err:
        grpc_client.classify("latest", [])
    assert "Input is empty" in err.value.message


def test_reload_config_adds_models_and_rejects_bad_labels(toy_base, images):
    from serving import config as config_lib
    from serving.client import GrpcClient
    from serving.server import ModelServer

    with ModelServer(config_lib.single_model_config("a", toy_base), rest_api_port=None,
                     file_system_poll_wait_seconds=0) as srv:
        client = GrpcClient(f"127.0.0.1:{srv.grpc_port}")
        config = model_server_config_pb2.ModelServerConfig()
        config.model_config_list.config.add(name="b", base_path=toy_base, model_platform="tensorflow")
        b = config.model_config_list.config[0]
        b.model_version_policy.specific.versions.extend([1, 2])
        b.version_labels["stable"] = 1
        assert client.reload_config(config).status.error_code == 0
        assert [s.version for s in client.status("b").model_version_status] == [2, 1]
        with pytest.raises(ServingError) as err:
            client.status("a")  # dropped by the new config
        assert err.value.code == grpc.StatusCode.NOT_FOUND
        np.testing.assert_allclose(client.predict("b", {"image": images}, "predict_raw", label="stable")[
            "probabilities"], toy_model.toy_predict(images, 1), atol=1e-5)
        b.version_labels["canary"] = 3  # version 3 is not loaded under specific {1, 2}
        request = model_management_pb2.ReloadConfigRequest(config=config)
        with pytest.raises(grpc.RpcError) as err:
            client.models.HandleReloadConfigRequest(request)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "not currently available" in err.value.details()
        client.close()


def _tensor(dtype, dims, **fields):
    from tensorflow.core.framework import tensor_pb2
    proto = tensor_pb2.TensorProto(dtype=dtype.as_datatype_enum, **fields)
    for d in dims:
        proto.tensor_shape.dim.add(size=d)
    return proto


@pytest.mark.parametrize("proto", [
    _tensor(tf.float32, [2, 3], tensor_content=np.arange(6, dtype=np.float32).tobytes()),
    _tensor(tf.int64, [1, 4], int64_val=[1, 2, 3, 4]),
    _tensor(tf.int32, [3], int_val=[7]),  # one value broadcast over the shape
    _tensor(tf.int64, [2, 3], int64_val=[1, 2, 3, 4]),  # too few values: the last one repeats, as TF's FromProto
    _tensor(tf.float64, [], double_val=[2.5]),  # a scalar
    _tensor(tf.float32, [0, 4]),  # empty
    _tensor(tf.string, [2], string_val=[b"a", b"b"]),
], ids=["content", "typed", "broadcast", "padded", "scalar", "empty", "string"])
def test_tensor_to_array_agrees_with_make_ndarray(proto):
    got, want = tensor_to_array("x", proto), tf.make_ndarray(proto)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    if got.size and got.dtype != object:
        got.flat[0] = 0  # decoded arrays are the request's own: writable, not views of the proto's bytes


@pytest.mark.parametrize("proto", [
    _tensor(tf.int64, [2, 3], int64_val=list(range(7))),  # more values than the shape holds
    _tensor(tf.float32, [2, 3], tensor_content=b"\x00" * 20),  # not 6 float32s
], ids=["too-many-values", "short-content"])
def test_tensor_to_array_refuses_values_that_do_not_fit_the_shape(proto):
    with pytest.raises(ServingError) as err:
        tensor_to_array("x", proto)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT and "'x'" in err.value.message

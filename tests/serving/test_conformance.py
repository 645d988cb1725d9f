"""Conformance with TF Serving 2.16.1, from its documentation and source, through its own client stubs.

Each test names the TF Serving behaviour it checks: its README quickstart and
``g3doc/api_rest.md`` examples on its ``half_plus_two``/``half_plus_three``
test models (rebuilt in :mod:`tests.serving.tfs_models`), ``predict_util.cc``
(no TensorInfo shape check), ``Tensor::AsProtoField`` (typed value fields in
Predict responses), the method-name check (``--enable_signature_method_name_check``),
the example clients' ``float_val`` idiom, ``main.cc``'s flags and
``http_server.cc``'s CORS and Prometheus handling.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving import cli, warmup
from serving import config as config_lib
from serving.client import GrpcClient, RestClient
from serving.errors import ServingError
from serving.server import ModelServer
from tests.fixtures import toy_model
from tests.serving import tfs_models

MODELS = """
model_config_list {{
  config {{ name: "half_plus_two" base_path: "{base}/half_plus_two" model_platform: "tensorflow" }}
  config {{ name: "saved_model_half_plus_three" base_path: "{base}/half_plus_three" model_platform: "tensorflow" }}
  config {{ name: "tf2" base_path: "{base}/tf2" model_platform: "tensorflow" }}
  config {{ name: "toy" base_path: "{toy}" model_platform: "tensorflow" }}
  config {{ name: "add" base_path: "{base}/add" model_platform: "tensorflow" }}
}}
"""


@pytest.fixture(scope="module")
def base(tmp_path_factory, toy_base):
    root = tmp_path_factory.mktemp("tfs")
    tfs_models.write_half_plus_two_tf1(str(root / "half_plus_two" / "123"))
    tfs_models.write_half_plus_two_tf1(str(root / "half_plus_three" / "123"), b=3.0)
    tfs_models.write_half_plus_two_tf2(str(root / "tf2" / "1"))
    tfs_models.write_add_with_default(str(root / "add" / "1"))
    (root / "models.config").write_text(MODELS.format(base=root, toy=toy_base))
    return root


def _server(base, **kwargs):
    config = config_lib.read_model_config_file(str(base / "models.config"))
    kwargs = {"port": 0, "rest_api_port": 0, "file_system_poll_wait_seconds": 0, **kwargs}
    return ModelServer(config, **kwargs)


@pytest.fixture(scope="module")
def tfs(base):
    with _server(base, prometheus_path="/monitoring/prometheus/metrics",
                 rest_api_enable_cors_support=True) as server:
        yield server


@pytest.fixture(scope="module")
def stub(tfs):
    channel = grpc.insecure_channel(f"127.0.0.1:{tfs.grpc_port}")
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


@pytest.fixture(scope="module")
def rest(tfs):
    client = RestClient(f"http://127.0.0.1:{tfs.rest_port}")
    yield client
    client.close()


# --- predict_util.cc: names checked, shapes left to the graph ------------------------------------------------

def test_readme_quickstart_half_plus_two(rest):
    # TF Serving README: curl -d '{"instances": [1.0, 2.0, 5.0]}' .../half_plus_two:predict
    assert rest.predict("half_plus_two", instances=[1.0, 2.0, 5.0]) == {"predictions": [2.5, 3.0, 4.5]}


def test_api_rest_md_predict_and_regress_on_half_plus_three(rest):
    # g3doc/api_rest.md: predict, and :regress on a signature whose tf_example TensorInfo says DT_FLOAT
    assert rest.predict("saved_model_half_plus_three", instances=[1.0, 2.0, 5.0]) == {
        "predictions": [3.5, 4.0, 5.5]}
    body = {"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]}
    assert rest.request("POST", "/v1/models/saved_model_half_plus_three:regress", body) == (
        200, {"results": [3.5, 4.0]})


def test_tensor_info_shape_is_not_enforced(rest, stub):
    # x's TensorInfo says [-1, 1]; a [2, 2] or a scalar still runs (the graph broadcasts), as in TF Serving.
    assert rest.predict("half_plus_two", inputs=[[1.0, 2.0], [3.0, 4.0]]) == {"outputs": [[2.5, 3.0], [3.5, 4.0]]}
    assert rest.predict("half_plus_two", inputs=4.0) == {"outputs": 4.0}
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(7.0, dtype=tf.float32))
    assert list(stub.Predict(request, 10).outputs["y"].float_val) == [5.5]


def test_a_shape_the_graph_cannot_take_is_invalid_argument(rest, stub):
    status, body = rest.request("POST", "/v1/models/toy:predict",
                                {"signature_name": "predict_raw", "instances": [[1, 2, 3]]})
    assert status == 400 and "Matrix size-incompatible" in body["error"]
    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "toy", "predict_raw"
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(np.zeros((2, 3, 64), np.int64)))
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(request, 10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rest.predict("half_plus_two", instances=[1.0]) == {"predictions": [2.5]}  # the server lives


def test_rest_json_is_converted_to_the_signature_dtype(rest):
    # json_tensor.cc: JSON integers are numbers for a DT_FLOAT input; a string is not.
    assert rest.predict("half_plus_two", instances=[1, 2]) == {"predictions": [2.5, 3.0]}
    status, body = rest.request("POST", "/v1/models/half_plus_two:predict", {"instances": ["1.0"]})
    assert status == 400 and "is not of expected type: float" in body["error"]


# --- Input keys the signature does not have (TF Serving 2.16.1 source) ----------------------------------------

def test_rest_inputs_object_ignores_keys_the_signature_does_not_have(rest):
    # util/json_tensor.cc FillTensorMapFromInputsMap (2.16.1, lines 555-595): only the tensorinfo_map's names
    # are looked up (val.FindMember(name), lines 577-582), so extra keys of an "inputs" object are ignored...
    assert rest.predict("half_plus_two", inputs={"x": [1.0, 2.0], "extra": [[1, 2]], "y": "z"}) == {
        "outputs": [2.5, 3.0]}
    # ...while a missing one is refused (lines 580-582), even where the SignatureDef has defaults.
    status, body = rest.request("POST", "/v1/models/add:predict", {"inputs": {"x": [1.0], "extra": [2.0]}})
    assert (status, body) == (400, {"error": "Missing named input: y in 'inputs' object."})


def test_rest_instances_key_not_in_the_signature_fails_that_element(rest):
    # json_tensor.cc FillTensorMapFromInstancesList (lines 465-548): each object's keys go through
    # AddInstanceItem in order, which refuses a name not in the tensorinfo_map (lines 394-397); the
    # status is wrapped by lines 506-510 ("Failed to process element: ... Error: " + status.ToString()).
    status, body = rest.request("POST", "/v1/models/half_plus_two:predict",
                                {"instances": [{"x": 1.0}, {"x": 2.0, "extra": 3.0}]})
    assert (status, body) == (400, {"error": "Failed to process element: 1 key: extra of 'instances' list. "
                                             "Error: INVALID_ARGUMENT: JSON object: does not have named input: extra"})
    # An object missing a key fails the key-set check after its keys are processed (lines 513-519).
    status, body = rest.request("POST", "/v1/models/add:predict", {"instances": [{"x": 1.0}]})
    assert status == 400
    assert body["error"] == ("Failed to process element: 0 of 'instances' list. JSON object: {\"x\":1.0} "
                             "keys must be equal to: x,y")
    assert rest.predict("add", instances=[{"x": 1.0, "y": 2.0}]) == {"predictions": [3.0]}


def _predict_request(model, **inputs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value, dtype=tf.float32))
    return request


def _rpc_error(stub, request):
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(request, 10)
    return err.value.code(), err.value.details()


def test_grpc_predict_with_input_aliases_the_signature_does_not_have(stub):
    # servables/tensorflow/predict_util.cc VerifyRequestInputsSize (2.16.1, lines 51-73): more inputs than
    # the signature has (or fewer, without defaults) is INVALID_ARGUMENT naming what was sent extra/missing.
    assert _rpc_error(stub, _predict_request("half_plus_two", x=[1.0], extra=[2.0])) == (
        grpc.StatusCode.INVALID_ARGUMENT, "input size does not match signature: 2!=1 len({extra,x}) != len({x}). "
                                          "Sent extra: {extra}. Missing but required: {x}.".replace("{x}.", "{}."))
    # Same count, wrong name: passes the size check, then TF's saved_model::GetInputValues
    # (tensorflow/cc/saved_model/util.cc, called at predict_util.cc line 126) finds no value for x.
    assert _rpc_error(stub, _predict_request("half_plus_two", extra=[1.0])) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Signature input alias: x(feed name: x:0) not found in request and no default value provided. "
        "Inputs expected to be in the request {extra}, or default input alias set: ")
    # With defaults (y), fewer inputs pass the size check; GetInputValues then refuses the unused name.
    assert _rpc_error(stub, _predict_request("add", x=[1.0], extra=[2.0])) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Inputs contains invalid name. Used request inputs: x, request input: extra,x")
    assert list(stub.Predict(_predict_request("add", x=[1.0]), 10).outputs["z"].float_val) == [11.0]


# --- Tensor::AsProtoField: typed value fields ----------------------------------------------------------------

def test_grpc_predict_fills_typed_value_fields(stub, images):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([1.0, 2.0, 5.0], dtype=tf.float32))
    y = stub.Predict(request, 10).outputs["y"]
    assert list(y.float_val) == [2.5, 3.0, 4.5] and not y.tensor_content
    assert [d.size for d in y.tensor_shape.dim] == [3]
    raw = predict_pb2.PredictRequest()
    raw.model_spec.name, raw.model_spec.signature_name = "toy", "predict_raw"
    raw.inputs["image"].CopyFrom(tf.make_tensor_proto(images))
    out = stub.Predict(raw, 10).outputs
    assert list(out["classes"].int64_val) == list(toy_model.toy_predict(images, 3).argmax(1))
    np.testing.assert_allclose(np.array(out["probabilities"].float_val).reshape(-1, 10),
                               toy_model.toy_predict(images, 3), atol=1e-5)


def test_mnist_client_idiom_reads_float_val(tfs, images):
    # example/mnist_client.py: stub.Predict.future(request, 5.0) then numpy.array(...outputs['scores'].float_val)
    channel = grpc.insecure_channel(f"127.0.0.1:{tfs.grpc_port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    done, results = threading.Event(), []
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "toy"
    request.model_spec.signature_name = "predict_raw"
    request.inputs["image"].CopyFrom(tf.make_tensor_proto(images[:1], shape=[1, 64]))
    future = stub.Predict.future(request, 5.0)
    future.add_done_callback(lambda f: (results.append(np.array(f.result().outputs["probabilities"].float_val)),
                                        done.set()))
    assert done.wait(10)
    assert int(np.argmax(results[0])) == int(toy_model.toy_predict(images[:1], 3).argmax())
    channel.close()


def test_tensor_content_option(base, images):
    config = config_lib.read_model_config_file(str(base / "models.config"))
    with ModelServer(config, rest_api_port=None, file_system_poll_wait_seconds=0, grpc_tensor_content=True) as server:
        client = GrpcClient(f"127.0.0.1:{server.grpc_port}")
        response = client.prediction.Predict(client.predict_request("toy", {"image": images}, "predict_raw"))
        assert response.outputs["probabilities"].tensor_content and not response.outputs["probabilities"].float_val
        client.close()


# --- Classify/Regress/MultiInference on TF2 SavedModels; the method-name check -------------------------------

def _classify(stub, model, signature, xs):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = model, signature
    request.input.example_list.examples.extend(tfs_models.example(x) for x in xs)
    return stub.Classify(request, 10)


def test_tf2_predict_method_signatures_classify_and_regress_by_default(stub):
    result = _classify(stub, "tf2", "classify_x_to_y", [1.0, 3.0]).result
    assert [[c.score for c in row.classes] for row in result.classifications] == [[2.5], [3.5]]
    request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = "tf2", "regress_x_to_y"
    request.input.example_list.examples.append(tfs_models.example(4.0))
    assert [r.value for r in stub.Regress(request, 10).result.regressions] == [4.0]
    multi = inference_pb2.MultiInferenceRequest()
    multi.tasks.add(method_name="tensorflow/serving/classify").model_spec.MergeFrom(
        request.model_spec.__class__(name="tf2", signature_name="classify_x_to_y"))
    multi.tasks.add(method_name="tensorflow/serving/regress").model_spec.MergeFrom(
        request.model_spec.__class__(name="tf2", signature_name="regress_x_to_y"))
    multi.input.example_list.examples.append(tfs_models.example(2.0))
    results = stub.MultiInference(multi, 10).results
    assert results[0].classification_result.classifications[0].classes[0].score == 3.0
    assert results[1].regression_result.regressions[0].value == 3.0


def test_method_name_check_flag_is_honoured(base):
    with _server(base, rest_api_port=None, enable_signature_method_name_check=True) as server:
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            _classify(stub, "tf2", "classify_x_to_y", [1.0])
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert err.value.details() == ("Expected classification signature method_name to be "
                                       "tensorflow/serving/classify. Was: tensorflow/serving/predict")
        # A TF1 classify-method signature still classifies.
        assert _classify(stub, "half_plus_two", "classify_x_to_y", [1.0]).result.classifications[0].classes[0].score \
            == 2.5
        channel.close()


# --- http_server.cc: CORS, Prometheus ------------------------------------------------------------------------

def test_cors_headers_and_preflight(tfs):
    conn = http.client.HTTPConnection("127.0.0.1", tfs.rest_port, timeout=10)
    conn.request("POST", "/v1/models/half_plus_two:predict", body=json.dumps({"instances": [1.0]}))
    response = conn.getresponse()
    response.read()
    assert response.getheader("Access-Control-Allow-Origin") == "*"
    assert response.getheader("Access-Control-Allow-Methods") == "POST, GET"
    conn.request("OPTIONS", "/v1/models/half_plus_two:predict", headers={"Origin": "http://example.com"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200
    conn.request("OPTIONS", "/v1/models/half_plus_two:predict")
    response = conn.getresponse()
    assert response.status == 400 and "Origin header is missing" in json.loads(response.read())["error"]
    conn.close()


def test_prometheus_metrics_have_tf_serving_names(tfs, rest, stub):
    rest.predict("half_plus_two", instances=[1.0])
    rest.request("POST", "/v1/models/half_plus_two:predict", {"instances": ["bad"]})
    _classify(stub, "tf2", "classify_x_to_y", [1.0])
    conn = http.client.HTTPConnection("127.0.0.1", tfs.rest_port, timeout=10)
    conn.request("GET", "/monitoring/prometheus/metrics")
    response = conn.getresponse()
    page = response.read().decode()
    conn.close()
    assert response.status == 200 and response.getheader("Content-Type") == "text/plain"
    lines = page.splitlines()
    assert "# TYPE :tensorflow:serving:request_count counter" in lines
    counts = {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in lines
              if line.startswith(":tensorflow:serving:request_count{")}
    assert counts[':tensorflow:serving:request_count{model_name="half_plus_two",status="OK"}'] >= 1
    assert counts[':tensorflow:serving:request_count{model_name="half_plus_two",status="INVALID_ARGUMENT"}'] >= 1
    assert counts[':tensorflow:serving:request_count{model_name="tf2",status="OK"}'] >= 1
    assert "# TYPE :tensorflow:serving:request_latency histogram" in lines
    assert any(line.startswith(':tensorflow:serving:request_latency_bucket{model_name="half_plus_two",'
                               'API="predict",entrypoint="REST",le="10"}') for line in lines)
    assert any(line.startswith(':tensorflow:serving:request_latency_bucket{model_name="tf2",API="Classify",'
                               'entrypoint="GRPC",le="+Inf"}') for line in lines)
    assert any(line.startswith(":tensorflow:serving:request_latency_count{") for line in lines)
    loads = [line for line in lines if line.startswith(":tensorflow:cc:saved_model:load_attempt_count{")]
    assert any("half_plus_two/123" in line and 'status="success"' in line for line in loads), loads


# --- main.cc's flags -----------------------------------------------------------------------------------------

TF_SERVING_2_16_1_FLAGS = [  # every tensorflow::Flag in model_servers/main.cc at 2.16.1
    "port", "grpc_socket_path", "rest_api_port", "rest_api_num_threads", "rest_api_timeout_in_ms",
    "rest_api_enable_cors_support", "enable_batching", "allow_version_labels_for_unavailable_models",
    "batching_parameters_file", "enable_per_model_batching_parameters", "model_config_file",
    "model_config_file_poll_wait_seconds", "model_name", "model_base_path", "num_load_threads",
    "num_unload_threads", "max_num_load_retries", "load_retry_interval_micros", "file_system_poll_wait_seconds",
    "flush_filesystem_caches", "tensorflow_session_parallelism", "tensorflow_session_config_file",
    "tensorflow_intra_op_parallelism", "tensorflow_inter_op_parallelism", "use_alts_credentials",
    "ssl_config_file", "platform_config_file", "per_process_gpu_memory_fraction", "saved_model_tags",
    "grpc_channel_arguments", "grpc_max_threads", "enable_model_warmup", "num_request_iterations_for_warmup",
    "version", "monitoring_config_file", "remove_unused_fields_from_bundle_metagraph", "prefer_tflite_model",
    "num_tflite_pools", "num_tflite_interpreters_per_pool", "enable_signature_method_name_check",
    "xla_cpu_compilation_enabled", "enable_profiler", "thread_pool_factory_config_file", "mixed_precision",
    "skip_initialize_tpu", "enable_grpc_healthcheck_service"]


def _parser():
    parser = argparse.ArgumentParser()
    cli.add_serve_parser(parser.add_subparsers())
    return parser


def test_every_tensorflow_model_server_flag_is_accepted():
    assert len(TF_SERVING_2_16_1_FLAGS) == 46
    parser = _parser()
    known = {a.dest for a in parser._subparsers._group_actions[0].choices["serve"]._actions}
    assert set(TF_SERVING_2_16_1_FLAGS) <= known
    args = parser.parse_args(["serve", "--enable_batching=true", "--enable_model_warmup=false", "--num_load_threads=4",
                              "--rest_api_enable_cors_support", "--saved_model_tags=serve,gpu", "--no_such_flag=1"])
    assert args.enable_batching is True and args.enable_model_warmup is False and args.rest_api_enable_cors_support
    assert args.num_load_threads == 4 and args.unknown_arguments == ["--no_such_flag=1"]


def test_production_command_line_starts_with_notes_for_flags_without_effect(toy_base, capsys):
    args = _parser().parse_args([
        "serve", "--port=0", "--rest_api_port=0", "--model_name=toy", f"--model_base_path={toy_base}",
        "--file_system_poll_wait_seconds=0", "--enable_profiler=true", "--num_load_threads=2",
        "--flush_filesystem_caches=false", "--xla_cpu_compilation_enabled", "--grpc_max_threads=8",
        "--rest_api_num_threads=4", "--grpc_channel_arguments=grpc.max_connection_age_ms=60000",
        "--tensorflow_session_parallelism=1", "--some_future_flag=3"])
    args.stop, ready, result = threading.Event(), threading.Event(), []
    thread = threading.Thread(target=lambda: result.append(cli.serve_command(args, ready)))
    thread.start()
    assert ready.wait(120)
    args.stop.set()
    thread.join(60)
    assert result == [0]
    out = capsys.readouterr().out.splitlines()
    for flag in ("enable_profiler", "num_load_threads", "flush_filesystem_caches", "xla_cpu_compilation_enabled"):
        assert sum(line.startswith(f"--{flag} is accepted") and "no effect" in line for line in out) == 1, out
    assert "unknown argument: --some_future_flag=3" in out
    assert any(line.startswith("Serving toy: gRPC on") for line in out)


def test_version_flag(capsys):
    assert cli.serve_command(_parser().parse_args(["serve", "--version"])) == 0
    out = capsys.readouterr().out
    assert out.startswith("TensorFlow ModelServer: 2.16.1") and f"TensorFlow Library: {tf.__version__}" in out


def test_bad_model_config_file_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "models.config"
    bad.write_text('model_config_list {\n  config { name: "x" base_path: "/m" }\n  confg {}\n}\n')
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-m", "serving.cli", "serve", f"--model_config_file={bad}"],
                          capture_output=True, text=True, timeout=300, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert proc.returncode == 255
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Failed to start server")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert errors[0].startswith("Failed to start server. Error: Error parsing text-format "
                                "tensorflow.serving.ModelServerConfig: 3:")
    assert 'no field named "confg"' in errors[0]


# --- gRPC on a Unix socket, SSL, REST timeout ----------------------------------------------------------------

def test_grpc_on_a_unix_socket(toy_base, tmp_path, images):
    socket_path = str(tmp_path / "grpc.sock")
    with ModelServer(config_lib.single_model_config("toy", toy_base), port=None, rest_api_port=None,
                     file_system_poll_wait_seconds=0, grpc_socket_path=socket_path) as server:
        assert server.grpc_port is None
        client = GrpcClient(f"unix:{socket_path}")
        out = client.predict("toy", {"image": images}, "predict_raw")
        np.testing.assert_allclose(out["probabilities"], toy_model.toy_predict(images, 3), atol=1e-5)
        client.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI to make a certificate")
def test_ssl_config_file_serves_grpc_over_tls(toy_base, tmp_path, images):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    ssl_config = tmp_path / "ssl.config"
    ssl_config.write_text(f"server_key: {json.dumps(key.read_text())}\nserver_cert: {json.dumps(cert.read_text())}\n"
                          "client_verify: false\n")
    args = _parser().parse_args(["serve", "--port=0", "--model_name=toy", f"--model_base_path={toy_base}",
                                 "--file_system_poll_wait_seconds=0", f"--ssl_config_file={ssl_config}"])
    with cli.build_server(args) as server:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        channel = grpc.secure_channel(f"localhost:{server.grpc_port}", credentials)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = GrpcClient.predict_request("toy", {"image": images}, "predict_raw")
        assert len(stub.Predict(request, 10).outputs["classes"].int64_val) == len(images)
        channel.close()
        insecure = GrpcClient(f"localhost:{server.grpc_port}", timeout=5)
        with pytest.raises(ServingError):
            insecure.predict("toy", {"image": images}, "predict_raw")
        insecure.close()


def test_rest_api_timeout_gives_deadline_exceeded(tmp_path):
    base = tmp_path / "counter"
    tfs_models.write_counter_model(str(base / "1"))
    with ModelServer(config_lib.single_model_config("counter", str(base)), port=None, rest_api_port=0,
                     file_system_poll_wait_seconds=0, rest_api_timeout_in_ms=100) as server:
        rest = RestClient(f"http://127.0.0.1:{server.rest_port}", timeout=60)
        assert rest.predict("counter", inputs=1000) == {"outputs": 1000}
        status, body = rest.request("POST", "/v1/models/counter:predict", {"inputs": 10 ** 12})
        assert status == 504 and body["error"], body
        assert rest.predict("counter", inputs=5) == {"outputs": 5}
        rest.close()


# --- gRPC deadlines: prediction_service_impl.cc maps the client's deadline into RunOptions.timeout_in_ms -----

def _count_request(request, n):
    request.model_spec.name = "counter"
    request.inputs["n"].CopyFrom(tf.make_tensor_proto(n, dtype=tf.int64))
    return request


def _wait_for(condition, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture(scope="module")
def counter_base(tmp_path_factory):
    base = tmp_path_factory.mktemp("counter") / "counter"
    tfs_models.write_counter_model(str(base / "1"))
    return str(base)


def test_grpc_deadline_bounds_the_session_run(counter_base):
    # TF Serving (model_servers/prediction_service_impl.cc, 2.16.1 lines 42-46) sets the session's
    # RunOptions timeout from context->raw_deadline(): a 10**12-step loop stops at the client's deadline.
    with ModelServer(config_lib.single_model_config("counter", counter_base), port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=0) as server:
        metrics = server.core.metrics
        before = metrics.request_count.value("counter", "DEADLINE_EXCEEDED")
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert list(stub.Predict(_count_request(predict_pb2.PredictRequest(), 1000), timeout=30)
                    .outputs["count"].int64_val) == [1000]
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(_count_request(predict_pb2.PredictRequest(), 10 ** 12), timeout=0.5)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # The server's own run ended with DEADLINE_EXCEEDED (unbounded, it would run for hours).
        assert _wait_for(lambda: metrics.request_count.value("counter", "DEADLINE_EXCEEDED") == before + 1)
        assert list(stub.Predict(_count_request(predict_pb2.PredictRequest(), 7), timeout=30)
                    .outputs["count"].int64_val) == [7]
        channel.close()


class _ExpiredContext:
    """A servicer context whose deadline has already passed."""

    def __init__(self):
        self.aborted = None

    def time_remaining(self):
        return 0.0

    def abort(self, code, details):
        self.aborted = (code, details)
        raise grpc.RpcError(details)


def test_a_request_past_its_deadline_is_never_run(counter_base, monkeypatch):
    from serving.grpc_service import PredictionServicer
    from serving.servable import Servable

    runs = []
    original = Servable.run_unbatched
    monkeypatch.setattr(Servable, "run_unbatched", lambda self, *a, **k: runs.append(a) or original(self, *a, **k))
    with ModelServer(config_lib.single_model_config("counter", counter_base), port=None, rest_api_port=None,
                     file_system_poll_wait_seconds=0) as server:
        context = _ExpiredContext()
        with pytest.raises(grpc.RpcError):
            PredictionServicer(server.core).Predict(_count_request(predict_pb2.PredictRequest(), 3), context)
        assert context.aborted[0] == grpc.StatusCode.DEADLINE_EXCEEDED
        assert runs == []


def test_a_request_whose_deadline_passes_in_the_batching_queue_is_never_run(counter_base):
    from serving.batching import BatchingOptions

    # eager=False: the lone request waits out the timeout in the queue (TF Serving's timing)
    options = BatchingOptions(max_batch_size=8, batch_timeout_micros=1_500_000, num_batch_threads=1, eager=False)
    with ModelServer(config_lib.single_model_config("counter", counter_base), port=0, rest_api_port=None,
                     file_system_poll_wait_seconds=0, batching=options) as server:
        metrics = server.core.metrics
        before = metrics.request_count.value("counter", "DEADLINE_EXCEEDED")
        executed = server.core.batcher.executed_batches
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "counter"
        request.inputs["n"].CopyFrom(tf.make_tensor_proto([5], dtype=tf.int64))  # batchable: one row
        with pytest.raises(grpc.RpcError) as err:
            stub.Predict(request, timeout=0.3)  # waits 1.5 s in the queue for the batch to fill
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert _wait_for(lambda: metrics.request_count.value("counter", "DEADLINE_EXCEEDED") == before + 1)
        assert server.core.batcher.executed_batches == executed  # dropped from its batch, never run
        channel.close()


# --- saved_model_warmup.cc -----------------------------------------------------------------------------------

def _with_warmup(src: str, dst: str, logs) -> str:
    shutil.copytree(src, dst)
    warmup.write_warmup_requests(dst, logs)
    return dst


def test_warmup_records_are_replayed_before_a_version_is_available(toy_base, tmp_path, images):
    base = tmp_path / "toy"
    examples = [toy_model.make_example(i) for i in images[:2]]
    logs = [warmup.predict_log({"image": images[:2]}, "predict_raw"),
            warmup.predict_log({"examples": np.array(examples, dtype=object)}),
            warmup.classify_log(examples, "classification"), warmup.regress_log(examples, "regression")]
    _with_warmup(os.path.join(toy_base, "1"), str(base / "1"), logs)
    with ModelServer(config_lib.single_model_config("toy", str(base)), rest_api_port=None,
                     file_system_poll_wait_seconds=0) as server:
        path = str(base / "1")
        assert server.core.metrics.warmup_latency.count(path, "OK") == 1
        client = GrpcClient(f"127.0.0.1:{server.grpc_port}")
        assert client.status("toy").model_version_status[0].state == 30  # AVAILABLE
        # A bad warmup record fails the new version's load; version 1 keeps serving.
        bad = warmup.predict_log({"pixels": images[:1]}, "predict_raw")
        _with_warmup(os.path.join(toy_base, "2"), str(base / "2"), [bad])
        server.core.poll_all()
        states = {s.version: (s.state, s.status.error_message) for s in client.status("toy").model_version_status}
        assert states[2][0] == 50 and "Warmup of toy version 2 failed" in states[2][1], states  # END
        out = client.predict("toy", {"image": images}, "predict_raw")
        np.testing.assert_allclose(out["probabilities"], toy_model.toy_predict(images, 1), atol=1e-5)
        client.close()
    with ModelServer(config_lib.single_model_config("toy", str(base)), rest_api_port=None,
                     file_system_poll_wait_seconds=0, enable_model_warmup=False) as server:
        assert sorted(server.core.find("toy").servables) == [2]  # warmup off: its records are never read


def test_grpc_health_checking_service(base):
    """--enable_grpc_healthcheck_service: grpc.health.v1 as TF Serving 2.16.1's server.cc sets it up."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    serving_status = health_pb2.HealthCheckResponse.SERVING
    with _server(base) as plain, grpc.insecure_channel(f"127.0.0.1:{plain.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as refused:  # off by default, as in TF Serving
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert refused.value.code() == grpc.StatusCode.UNIMPLEMENTED
    srv = _server(base, enable_grpc_healthcheck_service=True)
    with srv, grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", "ModelService", "PredictionService"):
            assert stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status == serving_status
        with pytest.raises(grpc.RpcError) as unknown:
            stub.Check(health_pb2.HealthCheckRequest(service="tensorflow.serving.Nothing"), timeout=10)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
        watch = stub.Watch(health_pb2.HealthCheckRequest(service="PredictionService"), timeout=60)
        assert next(watch).status == serving_status
        srv.grpc.stop(grace=5)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING

"""Clients for a TF Serving-compatible server (ours or the real one).

Example::

    rest = RestClient("http://127.0.0.1:8501")
    rest.predict("digits", instances=[{"b64": b64_example}])
    grpc_client = GrpcClient("127.0.0.1:8500")
    grpc_client.predict("digits", {"image": images}, signature_name="predict_raw")
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    input_pb2,
    model_management_pb2,
    model_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving.errors import ServingError


class RestError(Exception):
    """A non-200 REST answer: ``status`` and TF Serving's ``error`` message."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def b64(data: bytes) -> dict[str, str]:
    """``{"b64": ...}``: how REST carries binary strings."""
    return {"b64": base64.b64encode(data).decode("ascii")}


def _model_path(model: str, version: int | None, label: str | None) -> str:
    path = f"/v1/models/{quote(model, safe='')}"
    if version is not None:
        path += f"/versions/{int(version)}"
    elif label:
        path += f"/labels/{quote(label, safe='')}"
    return path


class RestClient:
    """TF Serving's REST API over keep-alive HTTP connections (one per thread)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8501", timeout: float = 30.0):
        parts = urlsplit(base_url if "//" in base_url else f"http://{base_url}")
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 8501
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return conn

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Sends one request; returns ``(HTTP status, decoded JSON)``."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in range(2):  # a kept-alive connection the server closed: reconnect once
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    self._local.conn = None
                return response.status, json.loads(payload) if payload else None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        status, payload = self.request(method, path, body)
        if status != 200:
            raise RestError(status, (payload or {}).get("error", "") if isinstance(payload, dict) else str(payload))
        return payload

    def status(self, model: str, version: int | None = None, label: str | None = None) -> Any:
        return self._call("GET", _model_path(model, version, label))

    def metadata(self, model: str, version: int | None = None, label: str | None = None) -> Any:
        return self._call("GET", _model_path(model, version, label) + "/metadata")

    def predict(self, model: str, instances: Sequence[Any] | None = None, inputs: Any = None,
                signature_name: str | None = None, version: int | None = None,
                label: str | None = None) -> Any:
        """``instances`` (row format) or ``inputs`` (columnar); returns the JSON answer."""
        body: dict[str, Any] = {"instances": list(instances)} if inputs is None else {"inputs": inputs}
        if signature_name:
            body["signature_name"] = signature_name
        return self._call("POST", _model_path(model, version, label) + ":predict", body)

    def _examples_call(self, verb: str, model: str, examples: Sequence[Mapping[str, Any]],
                       context: Mapping[str, Any] | None, signature_name: str | None,
                       version: int | None, label: str | None) -> Any:
        body: dict[str, Any] = {"examples": list(examples)}
        if context is not None:
            body["context"] = dict(context)
        if signature_name:
            body["signature_name"] = signature_name
        return self._call("POST", _model_path(model, version, label) + f":{verb}", body)

    def classify(self, model: str, examples: Sequence[Mapping[str, Any]], context: Mapping[str, Any] | None = None,
                 signature_name: str | None = None, version: int | None = None, label: str | None = None) -> Any:
        return self._examples_call("classify", model, examples, context, signature_name, version, label)

    def regress(self, model: str, examples: Sequence[Mapping[str, Any]], context: Mapping[str, Any] | None = None,
                signature_name: str | None = None, version: int | None = None, label: str | None = None) -> Any:
        return self._examples_call("regress", model, examples, context, signature_name, version, label)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def model_spec(model: str, version: int | None = None, label: str | None = None,
               signature_name: str = "") -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=model, signature_name=signature_name)
    if version is not None:
        spec.version.value = int(version)
    elif label:
        spec.version_label = label
    return spec


def examples_input(examples: Sequence[Any], context: Any = None) -> input_pb2.Input:
    """An ``Input`` from tf.train.Example protos or their serialized bytes."""
    parsed = [e if isinstance(e, tf.train.Example) else tf.train.Example.FromString(e) for e in examples]
    result = input_pb2.Input()
    if context is not None:
        result.example_list_with_context.context.CopyFrom(context)
        result.example_list_with_context.examples.extend(parsed)
    else:
        result.example_list.examples.extend(parsed)
    return result


class GrpcClient:
    """TF Serving's gRPC API through the official stubs; errors raise ``ServingError``."""

    def __init__(self, target: str = "127.0.0.1:8500", timeout: float = 30.0,
                 max_message_bytes: int = 64 << 20):
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes)]
        self.channel = grpc.insecure_channel(target, options=options)
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self.timeout = timeout

    def _invoke(self, rpc: Any, request: Any) -> Any:
        try:
            return rpc(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise ServingError(e.code(), e.details()) from None

    @staticmethod
    def predict_request(model: str, inputs: Mapping[str, Any], signature_name: str = "",
                        version: int | None = None, label: str | None = None,
                        output_filter: Sequence[str] = ()) -> predict_pb2.PredictRequest:
        request = predict_pb2.PredictRequest(model_spec=model_spec(model, version, label, signature_name),
                                             output_filter=list(output_filter))
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        return request

    def predict(self, model: str, inputs: Mapping[str, Any], signature_name: str = "",
                version: int | None = None, label: str | None = None,
                output_filter: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """Runs Predict; returns the outputs as arrays."""
        response = self._invoke(self.prediction.Predict, self.predict_request(
            model, inputs, signature_name, version, label, output_filter))
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def classify(self, model: str, examples: Sequence[Any], signature_name: str = "classification",
                 version: int | None = None, label: str | None = None,
                 context: Any = None) -> classification_pb2.ClassificationResponse:
        request = classification_pb2.ClassificationRequest(
            model_spec=model_spec(model, version, label, signature_name), input=examples_input(examples, context))
        return self._invoke(self.prediction.Classify, request)

    def regress(self, model: str, examples: Sequence[Any], signature_name: str = "regression",
                version: int | None = None, label: str | None = None,
                context: Any = None) -> regression_pb2.RegressionResponse:
        request = regression_pb2.RegressionRequest(
            model_spec=model_spec(model, version, label, signature_name), input=examples_input(examples, context))
        return self._invoke(self.prediction.Regress, request)

    def metadata(self, model: str, version: int | None = None, label: str | None = None
                 ) -> get_model_metadata_pb2.SignatureDefMap:
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=model_spec(model, version, label), metadata_field=["signature_def"])
        response = self._invoke(self.prediction.GetModelMetadata, request)
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sig_map)
        return sig_map

    def status(self, model: str, version: int | None = None, label: str | None = None
               ) -> get_model_status_pb2.GetModelStatusResponse:
        request = get_model_status_pb2.GetModelStatusRequest(model_spec=model_spec(model, version, label))
        return self._invoke(self.models.GetModelStatus, request)

    def reload_config(self, config: Any) -> model_management_pb2.ReloadConfigResponse:
        return self._invoke(self.models.HandleReloadConfigRequest,
                            model_management_pb2.ReloadConfigRequest(config=config))

    def close(self) -> None:
        self.channel.close()

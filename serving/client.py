"""Clients for a TF Serving-compatible server (ours or the real one): gRPC here, REST re-exported.

The REST client lives in :mod:`serving.rest_client`, which imports no
TensorFlow; this module needs it for TensorProtos. Example::

    rest = RestClient("http://127.0.0.1:8501")
    rest.predict("digits", instances=[{"b64": b64_example}])
    grpc_client = GrpcClient("127.0.0.1:8500")
    grpc_client.predict("digits", {"image": images}, signature_name="predict_raw")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
from serving.rest_client import RestClient, RestError, b64, model_path  # noqa: F401  (re-exported)


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

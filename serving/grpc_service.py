"""gRPC ``PredictionService`` and ``ModelService`` on tensorflow-serving-api's stubs."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving import errors, service
from serving.manager import ServerCore

_LOG = logging.getLogger(__name__)


def _rpc(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turns ServingError (and any crash) into a gRPC status instead of a dead call."""
    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except errors.ServingError as e:
            context.abort(e.code, e.message)
        except Exception as e:
            _LOG.exception("gRPC %s failed", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}")
    return wrapper


def tensor_to_array(name: str, proto: Any) -> np.ndarray:
    """A request TensorProto as an array (INVALID_ARGUMENT if it is malformed)."""
    try:
        array = tf.make_ndarray(proto)
    except Exception as e:
        raise errors.invalid_argument(f"input '{name}' is not a valid TensorProto: {e}") from None
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if array.shape != shape:
        raise errors.invalid_argument(f"input '{name}' holds {array.size} values for shape {list(shape)}")
    return array


def array_to_tensor(array: np.ndarray) -> tensor_pb2.TensorProto:
    """An output array as a TensorProto (numeric arrays via ``tensor_content``, as TF Serving)."""
    if array.dtype == object or array.dtype.kind in "SU":
        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(dtype=tf.dtypes.as_dtype(array.dtype).as_datatype_enum,
                                   tensor_content=np.ascontiguousarray(array).tobytes())
    proto.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in array.shape)
    return proto


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict, Classify, Regress, MultiInference and GetModelMetadata."""

    def __init__(self, core: ServerCore):
        self.core = core

    @_rpc
    def Predict(self, request: predict_pb2.PredictRequest, context: Any) -> predict_pb2.PredictResponse:
        inputs = {k: tensor_to_array(k, v) for k, v in request.inputs.items()}
        spec, outputs = service.predict(self.core, request.model_spec, inputs, list(request.output_filter))
        response = predict_pb2.PredictResponse(model_spec=spec)
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(array_to_tensor(value))
        return response

    @_rpc
    def Classify(self, request: Any, context: Any) -> classification_pb2.ClassificationResponse:
        spec, result = service.classify(self.core, request.model_spec, request.input)
        return classification_pb2.ClassificationResponse(model_spec=spec, result=result)

    @_rpc
    def Regress(self, request: Any, context: Any) -> regression_pb2.RegressionResponse:
        spec, result = service.regress(self.core, request.model_spec, request.input)
        return regression_pb2.RegressionResponse(model_spec=spec, result=result)

    @_rpc
    def MultiInference(self, request: Any, context: Any) -> Any:
        return service.multi_inference(self.core, request)

    @_rpc
    def GetModelMetadata(self, request: Any, context: Any) -> Any:
        return service.metadata(self.core, request)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus and HandleReloadConfigRequest."""

    def __init__(self, core: ServerCore):
        self.core = core

    @_rpc
    def GetModelStatus(self, request: Any, context: Any) -> get_model_status_pb2.GetModelStatusResponse:
        return service.model_status(self.core, request)

    def HandleReloadConfigRequest(self, request: Any, context: Any) -> Any:
        response = model_management_pb2.ReloadConfigResponse()
        code, message = grpc.StatusCode.OK, ""
        if request.config.WhichOneof("config") != "model_config_list":
            code, message = grpc.StatusCode.INVALID_ARGUMENT, (
                "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                "Only ModelConfigList is currently supported")
        else:
            try:
                self.core.reload_config(request.config)
            except errors.ServingError as e:
                code, message = e.code, e.message
            except Exception as e:
                code, message = grpc.StatusCode.INTERNAL, f"{type(e).__name__}: {e}"
        response.status.error_code = code.value[0]
        response.status.error_message = message
        if code != grpc.StatusCode.OK:
            context.set_code(code)
            context.set_details(message)
        return response


class GrpcServer:
    """Both services on ``host:port`` (port 0 picks a free one)."""

    def __init__(self, core: ServerCore, host: str = "127.0.0.1", port: int = 0,
                 max_request_bytes: int = 64 << 20, max_workers: int = 64):
        options = [("grpc.max_receive_message_length", max_request_bytes),
                   ("grpc.max_send_message_length", -1),
                   ("grpc.so_reuseport", 0)]
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=max_workers,
                                                              thread_name_prefix="grpc"),
                                   options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionServicer(core),
                                                                            self._server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(core), self._server)
        self.port = self._server.add_insecure_port(f"{host}:{port}")
        if not self.port:
            raise OSError(f"cannot bind gRPC to {host}:{port}")

    def start(self) -> GrpcServer:
        self._server.start()
        return self

    def stop(self, grace: float = 1.0) -> None:
        self._server.stop(grace).wait()

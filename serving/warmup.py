"""SavedModel warmup, as TF Serving's ``saved_model_warmup.cc``.

A model may carry ``assets.extra/tf_serving_warmup_requests``: a TFRecord
file of ``PredictionLog`` protos (predict, classify, regress or
multi-inference requests). With ``--enable_model_warmup`` (the default) the
server replays every record (``--num_request_iterations_for_warmup`` times)
on a freshly loaded version before it becomes AVAILABLE, so the first real
request does not pay for lazy initialisation. A record that fails fails the
load; more than 1000 records is an error, as in TF Serving.

The writer side (:func:`write_warmup_requests`, :func:`predict_log`) is what
the ServingValidator uses to put warmup records into a model, as TFX's
InfraValidator does with ``make_warmup``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from tensorflow_serving.apis import (
    classification_pb2,
    predict_pb2,
    prediction_log_pb2,
    regression_pb2,
)

from serving import errors

ASSETS_EXTRA = "assets.extra"
WARMUP_FILENAME = "tf_serving_warmup_requests"
MAX_NUM_RECORDS = 1000


def warmup_path(model_dir: str) -> str:
    """``<model_dir>/assets.extra/tf_serving_warmup_requests``."""
    return os.path.join(model_dir, ASSETS_EXTRA, WARMUP_FILENAME)


def read_warmup_requests(model_dir: str) -> list[prediction_log_pb2.PredictionLog]:
    """The PredictionLogs of a model's warmup file ([] when it has none)."""
    import tensorflow as tf

    path = warmup_path(model_dir)
    if not os.path.exists(path):
        return []
    logs = []
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog()
        try:
            log.ParseFromString(record)
        except Exception:
            raise errors.invalid_argument(f"Failed to parse warmup record: {record[:64]!r} from {path}") from None
        logs.append(log)
        if len(logs) > MAX_NUM_RECORDS:
            raise errors.invalid_argument(
                f"Number of warmup records exceeds the maximum ({MAX_NUM_RECORDS}) at {path}")
    return logs


def run_warmup_request(servable: Any, log: prediction_log_pb2.PredictionLog, timeout_ms: int = 0) -> None:
    """Runs one PredictionLog's request on ``servable`` (whatever model name/version it names).

    ``timeout_ms``: the session run timeout (runs of every timeout share the
    session's executors, so any one warms them).
    """
    from serving import grpc_service, service

    kind = log.WhichOneof("log_type")
    if kind == "predict_log":
        request = log.predict_log.request
        inputs = {k: grpc_service.tensor_to_array(k, v) for k, v in request.inputs.items()}
        service.predict(None, request.model_spec, inputs, list(request.output_filter), servable=servable,
                        timeout_ms=timeout_ms)
    elif kind == "classify_log":
        request = log.classify_log.request
        service.classify(None, request.model_spec, request.input, servable=servable, timeout_ms=timeout_ms)
    elif kind == "regress_log":
        request = log.regress_log.request
        service.regress(None, request.model_spec, request.input, servable=servable, timeout_ms=timeout_ms)
    elif kind == "multi_inference_log":
        service.multi_inference(None, log.multi_inference_log.request, servable=servable)
    elif kind is not None:
        raise errors.ServingError(errors.grpc.StatusCode.UNIMPLEMENTED, f"Unsupported log_type for warmup: {kind}")


def run_warmup(servable: Any, iterations: int = 1, metrics: Any = None, timeouts: tuple[int, ...] = (0,)) -> int:
    """Replays ``servable``'s warmup records; returns how many records ran.

    Each record runs ``iterations`` times under each session timeout of
    ``timeouts`` (the server uses one: every timeout shares the session's executors).

    Raises :class:`serving.errors.ServingError` on the first failing record.
    """
    start = time.monotonic()
    status = "OK"
    try:
        logs = read_warmup_requests(servable.path)
        for log in logs:
            for _ in range(max(iterations, 1)):
                for timeout_ms in dict.fromkeys(timeouts):
                    run_warmup_request(servable, log, timeout_ms)
        return len(logs)
    except errors.ServingError as e:
        status = e.code.name
        raise errors.ServingError(e.code, f"Warmup of {servable.name} version {servable.version} failed: "
                                          f"{e.message}") from None
    finally:
        if metrics is not None and os.path.exists(warmup_path(servable.path)):
            metrics.warmup_latency.add((time.monotonic() - start) * 1e6, servable.path, status)


def predict_log(inputs: Mapping[str, np.ndarray], signature_name: str = "", model_name: str = "") -> Any:
    """A PredictionLog holding a PredictRequest of ``inputs`` (arrays as TensorProtos)."""
    import tensorflow as tf

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


def classify_log(examples: Iterable[bytes], signature_name: str, model_name: str = "") -> Any:
    """A PredictionLog holding a ClassificationRequest of serialized examples."""
    from tensorflow.core.example import example_pb2

    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = model_name, signature_name
    request.input.example_list.examples.extend(example_pb2.Example.FromString(e) for e in examples)
    return prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog(request=request))


def regress_log(examples: Iterable[bytes], signature_name: str, model_name: str = "") -> Any:
    """A PredictionLog holding a RegressionRequest of serialized examples."""
    from tensorflow.core.example import example_pb2

    request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = model_name, signature_name
    request.input.example_list.examples.extend(example_pb2.Example.FromString(e) for e in examples)
    return prediction_log_pb2.PredictionLog(regress_log=prediction_log_pb2.RegressLog(request=request))


def write_warmup_requests(model_dir: str, logs: Iterable[Any]) -> str:
    """Writes PredictionLogs as ``model_dir``'s warmup file; returns its path."""
    import tensorflow as tf

    logs = list(logs)
    if not logs:
        raise ValueError("no warmup requests to write")
    if len(logs) > MAX_NUM_RECORDS:
        raise ValueError(f"{len(logs)} warmup requests; TF Serving takes at most {MAX_NUM_RECORDS}")
    path = warmup_path(model_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path

"""ServingValidator executor: serve the candidate, send real requests, bless or not.

Same blessing contract as TFX's InfraValidator: a ``blessed`` int custom
property (1/0) and an empty ``INFRA_BLESSED``/``INFRA_NOT_BLESSED`` file in
the blessing's uri. With ``make_warmup`` (default on, as TFX's
``RequestSpec.make_warmup``) the blessing also holds a copy of the model with
TF Serving warmup records (``<uri>/stamped_model``, custom property
``has_model`` = 1), which is the model validated and then pushed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

import numpy as np
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils

from components.artifacts import read_split, serving_model_dir
from serving import config as config_lib
from serving import warmup
from serving.client import GrpcClient, RestClient, b64
from serving.server import ModelServer

BLESSED_KEY = "blessed"
MODEL_FLAG_KEY = "has_model"  # TFX InfraValidator's custom property: the blessing holds a (warmed-up) model
STAMPED_MODEL_DIR = "stamped_model"
BLESSED_FILENAME = "INFRA_BLESSED"
NOT_BLESSED_FILENAME = "INFRA_NOT_BLESSED"
MODEL_NAME = "candidate"
_LOG = logging.getLogger(__name__)


class ValidationError(Exception):
    """The candidate failed a serving check."""


def _compare(name: str, got: Any, want: np.ndarray, rtol: float, where: str) -> None:
    got = np.asarray(got)
    if got.shape != want.shape:
        raise ValidationError(f"{where}: output '{name}' has shape {got.shape}, in-process {want.shape}")
    if want.dtype.kind in "fc":
        if not np.allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=rtol):
            raise ValidationError(f"{where}: output '{name}' differs from the in-process call "
                                  f"(max abs diff {np.max(np.abs(got - want)):.3g})")
    elif want.dtype == object:
        decoded = np.vectorize(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else v,
                               otypes=[object])(want) if want.size else want
        if got.tolist() != decoded.tolist() and got.tolist() != want.tolist():
            raise ValidationError(f"{where}: output '{name}' differs from the in-process call")
    elif not np.array_equal(got, want):
        raise ValidationError(f"{where}: output '{name}' differs from the in-process call")


def validate_model(model_dir: str, records: list[bytes], signature_name: str = "serving_default",
                   rtol: float = 1e-4, loaded: Any = None) -> dict[str, int]:
    """Serves ``model_dir`` on free loopback ports and checks REST and gRPC answers.

    ``loaded``: the same model already loaded in process (``tf.saved_model.load``), whose
    answers the served ones must equal; loaded from ``model_dir`` when not given.
    Raises ValidationError on the first failed check; returns request counts.
    """
    loaded = tf.saved_model.load(model_dir) if loaded is None else loaded
    if signature_name not in loaded.signatures:
        raise ValidationError(f"signature '{signature_name}' not in {sorted(loaded.signatures)}")
    fn = loaded.signatures[signature_name]
    requests = request_inputs(fn, records)
    with tempfile.TemporaryDirectory(prefix="serving_validator_") as tmp:
        base = os.path.join(tmp, MODEL_NAME)
        shutil.copytree(model_dir, os.path.join(base, "1"))
        with ModelServer(config_lib.single_model_config(MODEL_NAME, base),
                         file_system_poll_wait_seconds=0) as server:
            rest = RestClient(f"http://127.0.0.1:{server.rest_port}")
            grpc_client = GrpcClient(f"127.0.0.1:{server.grpc_port}")
            try:
                states = rest.status(MODEL_NAME)["model_version_status"]
                if [s["state"] for s in states] != ["AVAILABLE"]:
                    raise ValidationError(f"model not available in the server: {states}")
                for i, inputs in enumerate(requests):
                    want = {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()}
                    instance = {k: b64(v[0]) if v.dtype == object else v[0].tolist() for k, v in inputs.items()}
                    body = rest.predict(MODEL_NAME, instances=[instance],
                                        signature_name=signature_name)["predictions"]
                    for key, value in want.items():
                        _compare(key, [row[key] for row in body] if len(want) > 1 else body, value, rtol,
                                 f"REST request {i}")
                    got = grpc_client.predict(MODEL_NAME, inputs, signature_name=signature_name)
                    if set(got) != set(want):
                        raise ValidationError(f"gRPC outputs {sorted(got)} != in-process {sorted(want)}")
                    for key, value in want.items():
                        _compare(key, got[key], value, rtol, f"gRPC request {i}")
            finally:
                grpc_client.close()
                rest.close()
    return {"rest_requests": len(requests), "grpc_requests": len(requests)}


def request_inputs(fn: Any, records: list[bytes], seed: int = 0) -> list[dict[str, np.ndarray]]:
    """One single-row input dict per request for the signature ``fn``.

    A signature on serialized tf.Examples gets the eval records; one on
    explicit tensors (a GAN's latent ``z`` and class ``label``) gets seeded
    standard-normal floats and zero integers of the declared shapes.
    """
    args, kwargs = fn.structured_input_signature
    if args or not kwargs:
        raise ValidationError("the signature must take named inputs")
    if len(kwargs) == 1 and next(iter(kwargs.values())).dtype == tf.string:
        name = next(iter(kwargs))
        return [{name: np.array([record], dtype=object)} for record in records]
    rng = np.random.default_rng(seed)
    requests = []
    for _ in records:
        inputs = {}
        for name, spec in kwargs.items():
            shape = [1, *(d if d is not None else 1 for d in spec.shape.as_list()[1:])]
            if spec.dtype.is_floating:
                inputs[name] = rng.standard_normal(shape).astype(spec.dtype.as_numpy_dtype)
            elif spec.dtype.is_integer:
                inputs[name] = np.zeros(shape, spec.dtype.as_numpy_dtype)
            else:
                raise ValidationError(f"cannot make a request for input '{name}' of type {spec.dtype.name}")
        requests.append(inputs)
    return requests


class Executor(base_executor.BaseExecutor):
    """Writes an InfraBlessing: blessed only when every serving check passed."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model = artifact_utils.get_single_instance(input_dict["model"])
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])
        make_warmup = exec_properties.get("make_warmup")
        make_warmup = True if make_warmup is None else bool(make_warmup)
        signature_name = exec_properties.get("signature_name") or "serving_default"
        stamped = stamped_model_path(blessing.uri)
        try:
            records = read_split(examples.uri, exec_properties.get("split") or "eval",
                                 int(exec_properties.get("num_examples") or 8))
            model_dir = serving_model_dir(model.uri)
            loaded = tf.saved_model.load(model_dir)  # once: the warmup requests and the in-process answers
            if make_warmup:  # the served check then also replays the warmup records, as TF Serving will
                model_dir = write_warmup_model(model_dir, stamped, records, signature_name, loaded)
            counts = validate_model(model_dir, records, signature_name, float(exec_properties.get("rtol") or 1e-4),
                                    loaded)
        except Exception as e:  # any failure means: do not push
            _LOG.error("Model failed serving validation: %s", e)
            shutil.rmtree(stamped, ignore_errors=True)
            mark(blessing, False, str(e))
            return
        _LOG.info("Model passed serving validation: %s", counts)
        mark(blessing, True)
        if make_warmup:
            blessing.set_int_custom_property(MODEL_FLAG_KEY, 1)  # the Pusher pushes this warmed-up copy


def stamped_model_path(blessing_uri: str) -> str:
    """Where the warmed-up model goes in the InfraBlessing (TFX's ``path_utils.stamped_model_path``)."""
    return os.path.join(blessing_uri, STAMPED_MODEL_DIR)


def write_warmup_model(model_dir: str, out_dir: str, records: list[bytes], signature_name: str,
                       loaded: Any = None) -> str:
    """Copies ``model_dir`` to ``out_dir`` with TF Serving warmup records built from ``records``.

    One ``PredictionLog`` (a PredictRequest of one eval example, or of the
    signature's tensors for a model without an examples input) per record, in
    ``assets.extra/tf_serving_warmup_requests``, as TFX's InfraValidator writes
    them with ``make_warmup``. ``loaded``: ``model_dir`` already loaded in process. Returns ``out_dir``.
    """
    loaded = tf.saved_model.load(model_dir) if loaded is None else loaded
    if signature_name not in loaded.signatures:
        raise ValidationError(f"signature '{signature_name}' not in {sorted(loaded.signatures)}")
    requests = request_inputs(loaded.signatures[signature_name], records)
    shutil.rmtree(out_dir, ignore_errors=True)
    shutil.copytree(model_dir, out_dir)
    warmup.write_warmup_requests(out_dir, [warmup.predict_log(inputs, signature_name) for inputs in requests])
    return out_dir


def mark(blessing: types.Artifact, blessed: bool, reason: str = "") -> None:
    """Marks ``blessing`` as TFX's InfraValidator does (file + ``blessed`` property)."""
    os.makedirs(blessing.uri, exist_ok=True)
    filename = BLESSED_FILENAME if blessed else NOT_BLESSED_FILENAME
    with open(os.path.join(blessing.uri, filename), "w", encoding="utf-8") as f:
        f.write(reason)
    blessing.set_int_custom_property(BLESSED_KEY, int(blessed))
    if reason:
        blessing.set_string_custom_property("reason", reason[:1000])

"""The model server's API on protos and arrays, shared by the gRPC and REST fronts.

Each method takes a ``ModelSpec`` (name, version or label, signature) and
behaves as TF Serving's ``predict_impl``/``classifier``/``regressor``/
``get_model_metadata_impl``/``get_model_status_impl``: same validation, same
status codes, same messages where TF Serving has one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from google.protobuf import any_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    inference_pb2,
    input_pb2,
    model_pb2,
    regression_pb2,
)

from serving import errors, signatures
from serving.manager import ServerCore
from serving.servable import Servable, dtype_name

SIGNATURE_DEF_FIELD = "signature_def"


def resolve(core: ServerCore, spec: model_pb2.ModelSpec) -> Servable:
    """The servable a ModelSpec names."""
    version = spec.version.value if spec.HasField("version") else None
    label = spec.version_label if spec.WhichOneof("version_choice") == "version_label" else None
    return core.resolve(spec.name, version, label)


def _resolved_spec(servable: Servable, signature_key: str) -> model_pb2.ModelSpec:
    """The ModelSpec a response carries: the version and signature that actually ran."""
    resolved = model_pb2.ModelSpec(name=servable.name, signature_name=signature_key)
    resolved.version.value = servable.version
    return resolved


def predict(core: ServerCore, spec: model_pb2.ModelSpec, inputs: Mapping[str, np.ndarray],
            output_filter: Sequence[str] = (), servable: Servable | None = None, timeout_ms: int = 0,
            deadline: float | None = None) -> tuple[model_pb2.ModelSpec, dict[str, np.ndarray]]:
    """Runs a predict over ``inputs``; returns the resolved spec and the outputs.

    ``servable`` pins an already resolved version (REST resolves once to read
    the signature's input types, so a version swap cannot fall in between).
    """
    servable = servable or resolve(core, spec)
    key, outputs = servable.run(spec.signature_name, inputs, output_filter, timeout_ms=timeout_ms,
                                deadline=deadline)
    return _resolved_spec(servable, key), outputs


def signature_inputs(servable: Servable, spec: model_pb2.ModelSpec) -> dict:
    """Input TensorInfos of the requested signature (REST decodes JSON with them)."""
    key = spec.signature_name or signatures.DEFAULT_SIGNATURE
    if key not in servable.signature_defs:
        raise errors.invalid_argument(f'Serving signature name: "{key}" not found in signature def')
    return dict(servable.signature_defs[key].inputs)


def serialized_examples(request_input: input_pb2.Input) -> np.ndarray:
    """The serialized tf.Examples of an ``Input`` (context merged into each example)."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        values = [e.SerializeToString() for e in request_input.example_list.examples]
    elif kind == "example_list_with_context":
        lwc = request_input.example_list_with_context
        context = lwc.context.SerializeToString()
        values = [context + e.SerializeToString() for e in lwc.examples]  # proto merge on parse
    else:
        values = []
    if not values:
        raise errors.invalid_argument("Input is empty.")
    return np.array(values, dtype=object)


def _check_rank2(tensor: np.ndarray, what: str, num_examples: int) -> None:
    if tensor.ndim != 2:
        raise errors.invalid_argument(
            f"Expected Tensor shape: [batch_size num_classes] but got {list(tensor.shape)}")
    if tensor.shape[0] != num_examples:
        raise errors.invalid_argument(
            f"Expected {what} output batch size of {num_examples}. Got: {tensor.shape[0]}")


def _signature_text(sig: meta_graph_pb2.SignatureDef) -> str:
    return " ".join(str(sig).split())


def classification_signature(servable: Servable, signature_name: str
                             ) -> tuple[str, meta_graph_pb2.SignatureDef, str, list[str]]:
    """TF Serving's ``PreProcessClassification``: key, SignatureDef, input alias, output aliases.

    The method-name check only runs under ``--enable_signature_method_name_check``
    (off by default, as in TF Serving 2.16), so a TF2 SavedModel's predict-method
    signature with an ``inputs`` input and ``scores``/``classes`` outputs classifies.
    """
    key, sig = servable.signature(signature_name)
    if servable.method_name_check and sig.method_name != signatures.CLASSIFY_METHOD_NAME:
        raise errors.invalid_argument(f"Expected classification signature method_name to be "
                                      f"{signatures.CLASSIFY_METHOD_NAME}. Was: {sig.method_name}")
    if len(sig.inputs) != 1:
        raise errors.invalid_argument("Expected one input Tensor.")
    if len(sig.outputs) not in (1, 2):
        raise errors.invalid_argument(f"Expected one or two output Tensors, found {len(sig.outputs)}")
    if signatures.CLASSIFY_INPUTS not in sig.inputs:
        raise errors.invalid_argument(f"No classification inputs found in SignatureDef: {_signature_text(sig)}")
    wanted = [k for k in (signatures.CLASSIFY_OUTPUT_CLASSES, signatures.CLASSIFY_OUTPUT_SCORES)
              if k in sig.outputs]
    if not wanted:
        raise errors.invalid_argument(
            'Expected classification signature outputs to contain at least one of "classes" or "scores". '
            f"Signature was: {_signature_text(sig)}")
    return key, sig, signatures.CLASSIFY_INPUTS, wanted


def regression_signature(servable: Servable, signature_name: str
                         ) -> tuple[str, meta_graph_pb2.SignatureDef, str, list[str]]:
    """TF Serving's ``PreProcessRegression``: key, SignatureDef, input alias, output aliases."""
    key, sig = servable.signature(signature_name)
    if servable.method_name_check and sig.method_name != signatures.REGRESS_METHOD_NAME:
        raise errors.invalid_argument(f"Expected regression signature method_name to be "
                                      f"{signatures.REGRESS_METHOD_NAME}. Was: {sig.method_name}")
    if len(sig.inputs) != 1:
        raise errors.invalid_argument("Expected one input Tensor.")
    if len(sig.outputs) != 1:
        raise errors.invalid_argument("Expected one output Tensor.")
    if signatures.REGRESS_INPUTS not in sig.inputs:
        raise errors.invalid_argument(f"No regression inputs found in SignatureDef: {_signature_text(sig)}")
    if signatures.REGRESS_OUTPUTS not in sig.outputs:
        raise errors.invalid_argument(f"No regression outputs found in SignatureDef: {_signature_text(sig)}")
    return key, sig, signatures.REGRESS_INPUTS, [signatures.REGRESS_OUTPUTS]


def _run_examples(servable: Servable, key: str, input_key: str, examples: np.ndarray, outputs: list[str],
                  timeout_ms: int = 0, deadline: float | None = None) -> dict[str, np.ndarray]:
    """Feeds serialized examples as DT_STRING whatever the TensorInfo's dtype says (TF Serving does too)."""
    _, out = servable.run(key, {input_key: examples}, outputs, timeout_ms=timeout_ms, check_dtypes=False,
                          predict_method_check=False, deadline=deadline)
    return out


def classification_result(classes: np.ndarray | None, scores: np.ndarray | None, n: int
                          ) -> classification_pb2.ClassificationResult:
    """TF Serving's ``PostProcessClassificationResult``."""
    for tensor, what in ((classes, "classes"), (scores, "scores")):
        if tensor is not None:
            _check_rank2(tensor, what, n)
    if scores is not None and scores.dtype != np.float32:
        raise errors.invalid_argument(f"Expected scores Tensor of DT_FLOAT. Got: "
                                      f"{servable_dtype_name(scores)}")
    if classes is not None and classes.dtype != object:
        raise errors.invalid_argument(f"Expected classes Tensor of DT_STRING. Got: "
                                      f"{servable_dtype_name(classes)}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise errors.invalid_argument(f"Tensors class and score should match in dim_size(1). "
                                      f"Got {classes.shape[1]} vs. {scores.shape[1]}")
    num_classes = (classes if classes is not None else scores).shape[1]
    result = classification_pb2.ClassificationResult()
    for i in range(n):
        row = result.classifications.add()
        for c in range(num_classes):
            cls = row.classes.add()
            if classes is not None:
                cls.label = classes[i, c].decode("utf-8", "replace") \
                    if isinstance(classes[i, c], bytes) else str(classes[i, c])
            if scores is not None:
                cls.score = float(scores[i, c])
    return result


def regression_result(values: np.ndarray, n: int) -> regression_pb2.RegressionResult:
    """TF Serving's ``PostProcessRegressionResult``."""
    shape = list(values.shape)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise errors.invalid_argument(f"Expected output Tensor shape to be either [batch_size] or "
                                      f"[batch_size, 1] but got {shape}")
    if values.shape[0] != n:
        raise errors.invalid_argument(f"Input batch size did not match output batch size: {n} vs. "
                                      f"{values.shape[0]}")
    if values.dtype != np.float32:
        raise errors.invalid_argument(f"Expected output Tensor of DT_FLOAT.  Got: {servable_dtype_name(values)}")
    result = regression_pb2.RegressionResult()
    for v in values:
        result.regressions.add(value=float(v))
    return result


def servable_dtype_name(array: np.ndarray) -> str:
    if array.dtype == object:
        return "DT_STRING"
    import tensorflow as tf
    return dtype_name(tf.dtypes.as_dtype(array.dtype).as_datatype_enum)


def classify(core: ServerCore | None, spec: model_pb2.ModelSpec, request_input: input_pb2.Input,
             servable: Servable | None = None, timeout_ms: int = 0, deadline: float | None = None
             ) -> tuple[model_pb2.ModelSpec, classification_pb2.ClassificationResult]:
    """TF Serving's Classify over serialized examples (``servable`` pins a version, e.g. for warmup)."""
    servable = servable or resolve(core, spec)
    key, _, input_key, wanted = classification_signature(servable, spec.signature_name)
    examples = serialized_examples(request_input)
    out = _run_examples(servable, key, input_key, examples, wanted, timeout_ms, deadline)
    result = classification_result(out.get(signatures.CLASSIFY_OUTPUT_CLASSES),
                                   out.get(signatures.CLASSIFY_OUTPUT_SCORES), len(examples))
    return _resolved_spec(servable, key), result


def regress(core: ServerCore | None, spec: model_pb2.ModelSpec, request_input: input_pb2.Input,
            servable: Servable | None = None, timeout_ms: int = 0, deadline: float | None = None
            ) -> tuple[model_pb2.ModelSpec, regression_pb2.RegressionResult]:
    """TF Serving's Regress over serialized examples."""
    servable = servable or resolve(core, spec)
    key, _, input_key, wanted = regression_signature(servable, spec.signature_name)
    examples = serialized_examples(request_input)
    out = _run_examples(servable, key, input_key, examples, wanted, timeout_ms, deadline)
    return _resolved_spec(servable, key), regression_result(out[signatures.REGRESS_OUTPUTS], len(examples))


def multi_inference(core: ServerCore | None, request: inference_pb2.MultiInferenceRequest,
                    servable: Servable | None = None, deadline: float | None = None
                    ) -> inference_pb2.MultiInferenceResponse:
    """TF Serving's MultiInference: several classify/regress tasks of one model on one Input."""
    if not request.tasks:
        raise errors.invalid_argument("Tasks field is empty.")
    model_name = ""
    seen: set[str] = set()
    for task in request.tasks:
        if not task.model_spec.name:
            raise errors.invalid_argument("Found ModelSpec with an empty model name.")
        if model_name and task.model_spec.name != model_name:
            raise errors.invalid_argument("All ModelSpecs in a MultiInferenceRequest must access the same "
                                          "model name.")
        model_name = task.model_spec.name
        name = task.model_spec.signature_name or signatures.DEFAULT_SIGNATURE
        if name in seen:
            raise errors.invalid_argument(f"Duplicate evaluation of signature: {name}")
        seen.add(name)
        if task.method_name not in (signatures.CLASSIFY_METHOD_NAME, signatures.REGRESS_METHOD_NAME):
            raise errors.ServingError(errors.grpc.StatusCode.UNIMPLEMENTED,
                                      f"Unsupported signature method_name: {task.method_name}")
    servable = servable or resolve(core, request.tasks[0].model_spec)
    response = inference_pb2.MultiInferenceResponse()
    for task in request.tasks:
        if task.model_spec.signature_name and task.model_spec.signature_name not in servable.signature_defs:
            raise errors.invalid_argument(f"Requested signature not found in model graph: "
                                          f"{task.model_spec.signature_name}")
        result = response.results.add()
        if task.method_name == signatures.CLASSIFY_METHOD_NAME:
            spec, res = classify(core, task.model_spec, request.input, servable=servable, deadline=deadline)
            result.classification_result.CopyFrom(res)
        else:
            spec, res = regress(core, task.model_spec, request.input, servable=servable, deadline=deadline)
            result.regression_result.CopyFrom(res)
        result.model_spec.CopyFrom(spec)
    return response


def metadata(core: ServerCore, request: get_model_metadata_pb2.GetModelMetadataRequest
             ) -> get_model_metadata_pb2.GetModelMetadataResponse:
    """GetModelMetadata: the SignatureDefMap of the resolved version."""
    if not request.HasField("model_spec"):
        raise errors.invalid_argument("Missing ModelSpec")
    if not request.metadata_field:
        raise errors.invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
    for field in request.metadata_field:
        if field != SIGNATURE_DEF_FIELD:
            raise errors.invalid_argument(f"Metadata field {field} is not supported")
    servable = resolve(core, request.model_spec)
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.CopyFrom(_resolved_spec(servable, ""))
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in servable.signature_defs.items():
        sig_map.signature_def[key].CopyFrom(sig)
    packed = any_pb2.Any()
    packed.Pack(sig_map)
    response.metadata[SIGNATURE_DEF_FIELD].CopyFrom(packed)
    return response


def model_status(core: ServerCore, request: get_model_status_pb2.GetModelStatusRequest
                 ) -> get_model_status_pb2.GetModelStatusResponse:
    """GetModelStatus: every version's state, or the one a version/label names."""
    if not request.HasField("model_spec"):
        raise errors.invalid_argument("Missing ModelSpec")
    spec = request.model_spec
    if not spec.name:
        raise errors.invalid_argument("ModelSpec has no name specified.")
    manager = core.find(spec.name)
    if manager is None:
        raise errors.not_found(f"Could not find any versions of model {spec.name}")
    version = None
    if spec.HasField("version"):
        version = spec.version.value
    elif spec.WhichOneof("version_choice") == "version_label":
        version = manager.resolve(label=spec.version_label).version
    response = get_model_status_pb2.GetModelStatusResponse()
    for v, state, code, message in manager.version_states(version):
        status = response.model_version_status.add(version=v, state=state)
        status.status.error_code = code
        status.status.error_message = message
    return response

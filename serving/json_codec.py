"""JSON <-> tensors for TF Serving's REST API (``json_tensor.cc`` semantics).

Requests: row format (``"instances"``: one entry per example, a plain value
or list for a single-input signature, an object of named inputs otherwise)
and columnar format (``"inputs"``: a value/list or an object of named
inputs). Binary strings travel as ``{"b64": "..."}``. Values are checked
against the signature's dtype; nothing is silently coerced (a float for an
integer input, an out-of-range integer, a ragged list are all errors).

Responses mirror the request format: ``"predictions"`` (a list of per-example
values, or of objects when there are several outputs) or ``"outputs"``.
String outputs whose name ends in ``_bytes`` are written as ``{"b64": ...}``.

>>> from tensorflow.core.framework import types_pb2
>>> to_array([[1, 2], [3, 4]], types_pb2.DT_INT64).shape
(2, 2)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from google.protobuf import json_format
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import classification_pb2, input_pb2, regression_pb2

from serving import errors
from serving.servable import dtype_name

ROW, COLUMNAR = "row", "columnar"
_B64 = "b64"
_MAX_DEBUG = 256

_FLOATS = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64,
           types_pb2.DT_HALF: np.float16}
_INTS = {types_pb2.DT_INT8: np.int8, types_pb2.DT_INT16: np.int16, types_pb2.DT_INT32: np.int32,
         types_pb2.DT_INT64: np.int64, types_pb2.DT_UINT8: np.uint8, types_pb2.DT_UINT16: np.uint16,
         types_pb2.DT_UINT32: np.uint32, types_pb2.DT_UINT64: np.uint64}

_INT_RANGES = {dtype: (int(np.iinfo(t).min), int(np.iinfo(t).max)) for dtype, t in _INTS.items()}


def _debug(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= _MAX_DEBUG else text[:_MAX_DEBUG] + "..."


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return "Number"
    return {str: "String", list: "Array", dict: "Object"}.get(type(value), type(value).__name__)


def _type_error(value: Any, dtype: int) -> errors.ServingError:
    return errors.invalid_argument(f"JSON Value: {_debug(value)} Type: {_json_type(value)} "
                                   f"is not of expected type: {dtype_name(dtype)[3:].lower()}")


def is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get(_B64), str)


def decode_b64(value: Any) -> bytes:
    if not is_b64(value):
        raise errors.invalid_argument(f"JSON Value: {_debug(value)} not formatted correctly for base64 data")
    text = value[_B64]
    for altchars in (None, b"-_"):  # standard, then web-safe alphabet
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    raise errors.invalid_argument("Unable to base64 decode")


def _leaf(value: Any, dtype: int) -> Any:
    """Checks one scalar against ``dtype``; returns the Python value to store."""
    if dtype == types_pb2.DT_STRING:
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, dict):
            return decode_b64(value)
        raise _type_error(value, dtype)
    if isinstance(value, bool):
        if dtype == types_pb2.DT_BOOL:
            return value
        raise _type_error(value, dtype)
    if dtype in _FLOATS:
        if isinstance(value, (int, float)):
            return value
        raise _type_error(value, dtype)
    if dtype in _INTS:
        if not isinstance(value, int):
            raise _type_error(value, dtype)
        low, high = _INT_RANGES[dtype]
        if not low <= value <= high:
            raise errors.invalid_argument(f"JSON Value: {value} is out of range for {dtype_name(dtype)}")
        return value
    if dtype == types_pb2.DT_BOOL:
        raise _type_error(value, dtype)
    raise errors.ServingError(errors.grpc.StatusCode.UNIMPLEMENTED,
                              f"Conversion of JSON Value: {_debug(value)} to type: {dtype_name(dtype)}")


def _dense_shape(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def to_array(value: Any, dtype: int) -> np.ndarray:
    """A JSON value (scalar or nested lists) as an array of ``dtype``, checked dense."""
    shape = _dense_shape(value)
    flat: list[Any] = []

    def fill(v: Any, level: int) -> None:
        if not isinstance(v, list):
            if level != len(shape):
                raise errors.invalid_argument(f"JSON Value: {_debug(v)} found at incorrect level: {level + 1} "
                                              f"in the JSON DOM. Expected at level: {len(shape)}")
            flat.append(_leaf(v, dtype))
            return
        if level >= len(shape):
            raise errors.invalid_argument(
                f"Encountered list at unexpected level: {level} expected < {len(shape)}")
        if len(v) != shape[level]:
            raise errors.invalid_argument(f"Encountered list at unexpected size: {len(v)} at level: {level} "
                                          f"expected size: {shape[level]}")
        for item in v:
            fill(item, level + 1)

    fill(value, 0)
    if dtype == types_pb2.DT_STRING:
        array = np.empty(len(flat), dtype=object)
        array[:] = flat
        return array.reshape(shape)
    np_dtype = _FLOATS.get(dtype) or _INTS.get(dtype) or np.bool_
    return np.array(flat, dtype=np_dtype).reshape(shape)


def parse_body(body: bytes) -> dict:
    """The request body as a JSON object, or INVALID_ARGUMENT."""
    if not body:
        raise errors.invalid_argument("JSON Parse error: The document is empty")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise errors.invalid_argument(f"JSON Parse error: {e}") from None
    if not isinstance(doc, dict):
        raise errors.invalid_argument(f"JSON Value: {_debug(doc)} Is not object")
    return doc


def signature_name(doc: Mapping[str, Any]) -> str:
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise errors.invalid_argument(f"JSON Value: {_debug(doc)} not formatted correctly. "
                                      "'signature_name' key must be a string value.")
    return name


def _status_text(error: errors.ServingError) -> str:
    """A status as TF's ``Status::ToString`` prints it inside another message: ``CODE: message``."""
    return f"{error.code.name}: {error.message}"


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _add_instance_item(value: Any, name: str, infos: Mapping[str, Any], columns: dict[str, list[np.ndarray]]
                       ) -> None:
    """``json_tensor.cc`` ``AddInstanceItem``: one named value of one instance, checked against the first's."""
    if name not in infos:
        raise errors.invalid_argument(f"JSON object: does not have named input: {name}")
    array = to_array(value, infos[name].dtype)
    column = columns.setdefault(name, [])
    if column:
        first = column[0]
        if first.size != array.size:
            raise errors.invalid_argument(f"Expecting tensor size: {first.size} but got: {array.size}")
        if first.shape != array.shape:
            raise errors.invalid_argument(f"Expecting shape {_shape_text(first.shape)} but got: "
                                          f"{_shape_text(array.shape)}")
    column.append(array)


def _from_instances(instances: list, infos: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``json_tensor.cc`` ``FillTensorMapFromInstancesList`` (TF Serving 2.16.1).

    Each object's keys are processed in order, so a key the signature does not
    have fails that element ("JSON object: does not have named input"); an
    object missing a key fails after ("keys must be equal to").
    """
    def is_named(v: Any) -> bool:
        return isinstance(v, dict) and not is_b64(v)

    if not isinstance(instances[0], dict) and len(infos) > 1:
        raise errors.invalid_argument("instances is a plain list, but expecting list of objects as multiple "
                                      "input tensors required as per tensorinfo_map")
    named = is_named(instances[0])
    columns: dict[str, list[np.ndarray]] = {}
    for i, item in enumerate(instances):
        if named:
            if not is_named(item):
                raise errors.invalid_argument(f"Expecting object but got list at item {i} of input list")
            for name, value in item.items():
                try:
                    _add_instance_item(value, name, infos, columns)
                except errors.ServingError as e:
                    raise errors.invalid_argument(f"Failed to process element: {i} key: {name} of 'instances' "
                                                  f"list. Error: {_status_text(e)}") from None
            if set(item) != set(infos):
                raise errors.invalid_argument(
                    f"Failed to process element: {i} of 'instances' list. JSON object: {_debug(item)} "
                    f"keys must be equal to: {','.join(sorted(infos))}")
        else:
            if is_named(item):
                raise errors.invalid_argument(f"Expecting value/list but got object at item {i} of input list")
            try:
                _add_instance_item(item, next(iter(infos)), infos, columns)
            except errors.ServingError as e:
                raise errors.invalid_argument(f"Failed to process element: {i} of 'instances' list. "
                                              f"Error: {_status_text(e)}") from None
    return {name: np.stack(column) for name, column in columns.items()}


def _from_inputs(inputs: Any, infos: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """``json_tensor.cc`` ``FillTensorMapFromInputsMap`` (TF Serving 2.16.1).

    Only the signature's inputs are looked up in an ``inputs`` object, so keys
    the signature does not have are ignored, as TF Serving ignores them.
    """
    if not isinstance(inputs, dict) or is_b64(inputs):
        if len(infos) > 1:
            raise errors.invalid_argument("inputs is a plain value/list, but expecting an object as multiple "
                                          "input tensors required as per tensorinfo_map")
        name = next(iter(infos))
        return {name: to_array(inputs, infos[name].dtype)}
    result = {}
    for name, info in infos.items():
        if name not in inputs:
            raise errors.invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        result[name] = to_array(inputs[name], info.dtype)
    return result


def decode_predict(doc: Mapping[str, Any], get_infos: Callable[[str], Mapping[str, Any]]
                   ) -> tuple[dict[str, np.ndarray], str]:
    """Tensors and format (ROW/COLUMNAR) of a parsed predict body."""
    infos = get_infos(signature_name(doc))
    if not infos:
        raise errors.invalid_argument(f"Failed to get input map for signature: "
                                      f"{signature_name(doc) or 'DEFAULT'}")
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise errors.invalid_argument(f"JSON Value: {_debug(doc)} Not formatted correctly expecting only "
                                      "one of 'inputs' or 'instances' keys to exist ")
    if has_instances:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise errors.invalid_argument(f"JSON Value: {_debug(doc)} Expecting 'instances' to be an list/array")
        if not instances:
            raise errors.invalid_argument(f"JSON Value: {_debug(doc)} No values in 'instances' array")
        return _from_instances(instances, infos), ROW
    if has_inputs:
        return _from_inputs(doc["inputs"], infos), COLUMNAR
    raise errors.invalid_argument("Missing 'inputs' or 'instances' key")


def _to_json(array: np.ndarray, as_b64: bool) -> Any:
    if array.dtype == object or array.dtype.kind in "SU":
        def convert(v: Any) -> Any:
            if isinstance(v, bytes):
                if not as_b64:
                    try:
                        return v.decode("utf-8")
                    except UnicodeDecodeError:
                        pass
                return {_B64: base64.b64encode(v).decode("ascii")}
            return v if isinstance(v, str) else str(v)
        return np.vectorize(convert, otypes=[object])(array).tolist() if array.size else array.tolist()
    return array.tolist()


def _is_bytes_output(name: str, array: np.ndarray) -> bool:
    return name.endswith("_bytes") and array.dtype == object


def encode_predict(outputs: Mapping[str, np.ndarray], fmt: str) -> dict[str, Any]:
    """The predict response body for ``outputs`` in request format ``fmt``."""
    if not outputs:
        raise errors.invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    if fmt == COLUMNAR:
        converted = {n: _to_json(outputs[n], _is_bytes_output(n, outputs[n])) for n in names}
        return {"outputs": converted if len(names) > 1 else converted[names[0]]}
    batch = None
    for name in names:
        if outputs[name].ndim == 0:
            raise errors.invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch is not None and outputs[name].shape[0] != batch:
            raise errors.invalid_argument(f"Tensor name: {name} has inconsistent batch size: "
                                          f"{outputs[name].shape[0]} expecting: {batch}")
        batch = outputs[name].shape[0]
    columns = {n: _to_json(outputs[n], _is_bytes_output(n, outputs[n])) for n in names}
    if len(names) == 1:
        return {"predictions": columns[names[0]]}
    return {"predictions": [{n: columns[n][i] for n in names} for i in range(batch)]}


def _feature(name: str, value: Any, feature: feature_pb2.Feature) -> None:
    values = value if isinstance(value, list) else [value]
    for v in values:
        if isinstance(v, bool) or (isinstance(v, int) and not isinstance(v, bool)):
            kind, store = "int64_list", int(v)
        elif isinstance(v, float):
            kind, store = "float_list", v
        elif isinstance(v, str):
            kind, store = "bytes_list", v.encode("utf-8")
        elif is_b64(v):
            kind, store = "bytes_list", decode_b64(v)
        else:
            raise errors.invalid_argument(f"Feature: {name} has element with unexpected JSON type: "
                                          f"{_json_type(v)}")
        current = feature.WhichOneof("kind")
        if current not in (None, kind):
            raise errors.invalid_argument(f"Unexpected element type in feature: {name} expecting type: "
                                          f"{current.split('_')[0]}")
        if kind == "int64_list" and not -2**63 <= store < 2**63:
            raise errors.invalid_argument(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        getattr(feature, kind).value.append(store)


def _example(value: Any) -> example_pb2.Example:
    if not isinstance(value, dict):
        raise errors.invalid_argument(f"Example must be JSON object but got JSON {_json_type(value)}")
    example = example_pb2.Example()
    for name, content in value.items():
        _feature(name, content, example.features.feature[name])
    return example


def decode_classify_regress(doc: Mapping[str, Any], method: str) -> tuple[str, input_pb2.Input]:
    """Signature name and ``Input`` of a parsed classify/regress body."""
    name = signature_name(doc)
    request_input = input_pb2.Input()
    examples = doc.get("examples")
    if examples is None:
        raise errors.invalid_argument(f"JSON Value: {_debug(doc)} When method is {method}, key 'examples' "
                                      "is expected and was not found")
    if not isinstance(examples, list):
        raise errors.invalid_argument(f"JSON Value: {_debug(doc)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise errors.invalid_argument(f"JSON Value: {_debug(doc)} 'examples' value is an empty array")
    if "context" in doc:
        target = request_input.example_list_with_context
        target.context.CopyFrom(_example(doc["context"]))
    else:
        target = request_input.example_list
    for item in examples:
        target.examples.add().CopyFrom(_example(item))
    return name, request_input


def encode_classify(result: classification_pb2.ClassificationResult) -> dict[str, Any]:
    if not result.classifications:
        raise errors.invalid_argument("Cannot convert empty ClassificationResults to JSON")
    return {"results": [[[c.label, c.score] for c in row.classes] for row in result.classifications]}


def encode_regress(result: regression_pb2.RegressionResult) -> dict[str, Any]:
    if not result.regressions:
        raise errors.invalid_argument("Cannot convert empty RegressionResults to JSON")
    return {"results": [r.value for r in result.regressions]}


def proto_to_json(message: Any) -> dict[str, Any]:
    """A proto as TF Serving prints status/metadata JSON (field names kept, defaults printed)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     including_default_value_fields=True)


def metadata_to_json(response: Any) -> dict[str, Any]:
    """GetModelMetadataResponse as TF Serving's REST metadata JSON (the Any unpacked)."""
    from tensorflow_serving.apis import get_model_metadata_pb2
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(sig_map)
    return {"model_spec": proto_to_json(response.model_spec),
            "metadata": {"signature_def": proto_to_json(sig_map)}}

"""One loaded model version: a SavedModel session run through its SignatureDefs.

Like TF Serving's ``SavedModelBundle``, a :class:`Servable` loads the
``serve`` MetaGraph into its own graph and session and runs any SignatureDef
by tensor names, so the classify/regress SignatureDefs that
:mod:`serving.signatures` adds to a TF2 SavedModel work as they do in real TF
Serving. Inputs are validated against the SignatureDef before anything runs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2

from serving import errors, signatures

DEFAULT_SIGNATURE = signatures.DEFAULT_SIGNATURE
_RUNNABLE_METHODS = (signatures.PREDICT_METHOD_NAME, signatures.CLASSIFY_METHOD_NAME,
                     signatures.REGRESS_METHOD_NAME)


def _load_custom_ops() -> None:
    """Registers the TF Text ops seq2seq/BERT exports use, where installed."""
    try:
        import tensorflow_text  # noqa: F401
    except ImportError:
        pass


def dtype_name(dtype: int) -> str:
    return types_pb2.DataType.Name(dtype)


def numpy_dtype(dtype: int) -> np.dtype:
    """NumPy dtype of a ``DataType`` enum (object for strings)."""
    return np.dtype(object) if dtype == types_pb2.DT_STRING else tf.dtypes.as_dtype(dtype).as_numpy_dtype


def _check_input(name: str, info: meta_graph_pb2.TensorInfo, value: np.ndarray) -> np.ndarray:
    """Checks one input's dtype against its TensorInfo; returns it in the signature's dtype.

    Shapes are NOT checked, as in TF Serving (``predict_util.cc`` checks only
    the input names and leaves shapes to ``Session::Run``): a shape the graph
    cannot take fails there, as INVALID_ARGUMENT with the op's message.
    """
    want = numpy_dtype(info.dtype)
    if want == np.dtype(object):
        if value.dtype != object and value.dtype.kind not in "SU":
            raise errors.invalid_argument(
                f"input '{name}' expects {dtype_name(info.dtype)} but got {value.dtype}")
        value = value.astype(object) if value.dtype != object else value
    elif value.dtype != want:
        raise errors.invalid_argument(
            f"input '{name}' expects {dtype_name(info.dtype)} but got "
            f"{dtype_name(tf.dtypes.as_dtype(value.dtype).as_datatype_enum) if value.dtype != object else 'DT_STRING'}")
    return value


class Servable:
    """A loaded SavedModel version.

    Args:
        name: model name.
        version: integer version.
        path: the version directory.
        session_config: optional ``tf.compat.v1.ConfigProto``.
        tags: the MetaGraph's tags (``--saved_model_tags``; default ``serve``).
        method_name_check: ``--enable_signature_method_name_check`` (off by
            default, as in TF Serving 2.16, so TF2 SavedModels' predict-method
            signatures serve Classify/Regress).
    """

    def __init__(self, name: str, version: int, path: str,
                 session_config: tf.compat.v1.ConfigProto | None = None,
                 tags: Sequence[str] = (tf.saved_model.SERVING,), method_name_check: bool = False):
        _load_custom_ops()
        self.name = name
        self.version = version
        self.path = path
        self.method_name_check = method_name_check
        self._graph = tf.Graph()
        self._session = tf.compat.v1.Session(graph=self._graph, config=session_config)
        with self._graph.as_default():
            meta_graph = tf.compat.v1.saved_model.loader.load(self._session, list(tags), path)
        self.signature_defs: dict[str, meta_graph_pb2.SignatureDef] = dict(meta_graph.signature_def)
        self._defaults = {key: {alias: tf.make_ndarray(proto) for alias, proto in sig.defaults.items()}
                          for key, sig in self.signature_defs.items() if sig.defaults}
        self._callables: dict[tuple, Callable[..., list[np.ndarray]]] = {}
        self._lock = threading.Lock()
        self.batcher: Any = None  # a serving.batching.BatchScheduler, set by the manager

    def __repr__(self) -> str:
        return f"Servable({self.name!r}, {self.version})"

    def signature(self, signature_name: str) -> tuple[str, meta_graph_pb2.SignatureDef]:
        """The SignatureDef named (default ``serving_default``); FAILED_PRECONDITION if absent."""
        key = signature_name or DEFAULT_SIGNATURE
        if key not in self.signature_defs:
            raise errors.failed_precondition(f'Serving signature key "{key}" not found.')
        return key, self.signature_defs[key]

    def _callable(self, key: str, input_names: tuple[str, ...], output_names: tuple[str, ...],
                  timeout_ms: int = 0) -> Callable[..., list[np.ndarray]]:
        """A compiled feed/fetch step for one signature (TF Serving's ``Session::MakeCallable``).

        ``Session.make_callable`` with a ``feed_list`` falls back to the
        generic ``Session.run`` (feed dict, fetch mapper) on every call; a
        callable built from ``CallableOptions`` goes straight to the C++
        session, which takes a fifth of a millisecond off each request.
        ``timeout_ms`` > 0 sets ``RunOptions.timeout_in_ms`` (DEADLINE_EXCEEDED
        past it), as TF Serving does for ``--rest_api_timeout_in_ms``.
        """
        cache_key = (key, input_names, output_names, timeout_ms)
        fn = self._callables.get(cache_key)
        if fn is None:
            sig = self.signature_defs[key]
            options = config_pb2.CallableOptions(feed=[sig.inputs[i].name for i in input_names],
                                                 fetch=[sig.outputs[o].name for o in output_names])
            if timeout_ms > 0:
                options.run_options.timeout_in_ms = timeout_ms
            with self._lock, self._graph.as_default():
                fn = self._session._make_callable_from_options(options)
            self._callables[cache_key] = fn
        return fn

    def run_unbatched(self, key: str, inputs: Mapping[str, np.ndarray],
                      output_names: Sequence[str], timeout_ms: int = 0) -> dict[str, np.ndarray]:
        """Runs validated ``inputs`` through signature ``key``; no batching."""
        names = tuple(sorted(inputs))
        outs = tuple(output_names)
        try:
            values = self._callable(key, names, outs, timeout_ms)(*[inputs[n] for n in names])
        except tf.errors.OpError as e:
            raise errors.from_tf_error(e) from None
        except (TypeError, ValueError) as e:  # a value the C API cannot turn into a tensor
            raise errors.invalid_argument(" ".join(str(e).split())) from None
        return dict(zip(outs, values))

    def check_method(self, sig: meta_graph_pb2.SignatureDef) -> None:
        """TF Serving's Predict method check, when ``--enable_signature_method_name_check`` is on."""
        if self.method_name_check and sig.method_name not in _RUNNABLE_METHODS:
            raise errors.ServingError(
                errors.grpc.StatusCode.INTERNAL,
                f"Expected prediction signature method_name to be one of {{{', '.join(_RUNNABLE_METHODS)}}}. "
                f"Was: {sig.method_name}")

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray],
            output_filter: Sequence[str] = (), timeout_ms: int = 0, check_dtypes: bool = True,
            predict_method_check: bool = True) -> tuple[str, dict[str, np.ndarray]]:
        """Runs a signature as TF Serving's Predict does; returns ``(signature key, outputs)``.

        Args:
            signature_name: signature key ('' for ``serving_default``).
            inputs: input name -> array (names must match the signature's,
                less those it has ``defaults`` for; shapes are left to the graph).
            output_filter: output keys to fetch (all when empty).
            timeout_ms: session run timeout (0: none).
            check_dtypes: check inputs against the TensorInfo dtypes (Classify and
                Regress feed serialized examples whatever the TensorInfo says, as TF Serving).
            predict_method_check: apply Predict's method-name check (Classify and
                Regress make their own).
        """
        key, sig = self.signature(signature_name)
        if predict_method_check:
            self.check_method(sig)
        sent, wanted = set(inputs), set(sig.inputs)
        if len(sent) > len(wanted) or (len(sent) < len(wanted) and not sig.defaults):
            raise errors.invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(wanted)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(wanted))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - wanted))}}}. "
                f"Missing but required: {{{','.join(sorted(wanted - sent))}}}.")
        defaults = self._defaults.get(key, {})
        for alias in sorted(wanted - sent):
            if alias not in defaults:
                raise errors.invalid_argument(f"Signature input alias: {alias} not found in request and no defaults")
        if sent - wanted:
            raise errors.invalid_argument(
                f"Entries in the PredictRequest not found in signature: {','.join(sorted(sent - wanted))}")
        checked = {n: _check_input(n, sig.inputs[n], np.asarray(v)) if check_dtypes else np.asarray(v)
                   for n, v in inputs.items()}
        for alias in wanted - sent:
            checked[alias] = defaults[alias]
        outputs = list(output_filter) or sorted(sig.outputs)
        seen: set[str] = set()
        for alias in outputs:
            if alias not in sig.outputs:
                raise errors.invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in "
                    f"the set {{{','.join(sorted(sig.outputs))}}}.")
            if alias in seen:
                raise errors.invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        if self.batcher is not None:
            return key, self.batcher.run(self, key, checked, tuple(outputs))
        return key, self.run_unbatched(key, checked, outputs, timeout_ms)

    def close(self) -> None:
        self._session.close()


def is_complete_version(path: str) -> bool:
    """True when ``path`` holds a whole SavedModel: a parseable saved_model.pb and all variable shards.

    A version directory being written in place (not renamed into place) is
    skipped until this holds, so the server never loads half a model.
    """
    pb = os.path.join(path, "saved_model.pb")
    if not os.path.isfile(pb):
        return False
    try:
        signatures.read_saved_model(path)
    except Exception:
        return False
    variables = os.path.join(path, "variables")
    if os.path.isdir(variables):
        index = os.path.join(variables, "variables.index")
        if not os.path.isfile(index):
            return False
        shards = [n for n in os.listdir(variables) if n.startswith("variables.data-")]
        if not shards:
            return False
        total = int(shards[0].rsplit("-of-", 1)[-1])
        if len(shards) != total:
            return False
    return True

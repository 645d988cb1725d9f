"""One loaded model version: a SavedModel session run through its SignatureDefs.

Like TF Serving's ``SavedModelBundle``, a :class:`Servable` loads the
``serve`` MetaGraph into its own graph and session and runs any SignatureDef
by tensor names, so the classify/regress SignatureDefs that
:mod:`serving.signatures` adds to a TF2 SavedModel work as they do in real TF
Serving. Inputs are validated against the SignatureDef before anything runs.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2
from tensorflow.python.client import pywrap_tf_session as tf_session

from serving import errors, signatures

DEFAULT_SIGNATURE = signatures.DEFAULT_SIGNATURE
CALLER_THREAD_MAX_MS = 1.0  # TF: the caller thread "ONLY for simple graphs", whose run costs about a hand-off
_MAX_CACHED_OPTIONS = 64
_RUNNABLE_METHODS = (signatures.PREDICT_METHOD_NAME, signatures.CLASSIFY_METHOD_NAME,
                     signatures.REGRESS_METHOD_NAME)


def _load_custom_ops() -> None:
    """Registers the TF Text ops seq2seq/BERT exports use, where installed."""
    try:
        import tensorflow_text  # noqa: F401
    except ImportError:
        pass


def deadline_exceeded() -> errors.ServingError:
    """A request whose gRPC deadline passed before it ran (gRPC's own message for it)."""
    return errors.ServingError(errors.grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")


def _pool_is_default(config: Any) -> bool:
    """True when the session config leaves TF to size the inter-op pool (TF Serving's default)."""
    return config is None or (config.inter_op_parallelism_threads == 0
                              and not config.session_inter_op_thread_pool)


def dtype_name(dtype: int) -> str:
    return types_pb2.DataType.Name(dtype)


@functools.cache
def numpy_dtype(dtype: int) -> np.dtype:
    """NumPy dtype of a ``DataType`` enum (object for strings)."""
    return np.dtype(object) if dtype == types_pb2.DT_STRING else tf.dtypes.as_dtype(dtype).as_numpy_dtype


def _check_input(name: str, dtype: int, value: np.ndarray) -> np.ndarray:
    """Checks one input against its TensorInfo's ``dtype``; returns it in the signature's dtype.

    Shapes are NOT checked, as in TF Serving (``predict_util.cc`` checks only
    the input names and leaves shapes to ``Session::Run``): a shape the graph
    cannot take fails there, as INVALID_ARGUMENT with the op's message.
    """
    want = numpy_dtype(dtype)
    if want == np.dtype(object):
        if value.dtype != object and value.dtype.kind not in "SU":
            raise errors.invalid_argument(
                f"input '{name}' expects {dtype_name(dtype)} but got {value.dtype}")
        value = value.astype(object) if value.dtype != object else value
    elif value.dtype != want:
        raise errors.invalid_argument(
            f"input '{name}' expects {dtype_name(dtype)} but got "
            f"{dtype_name(tf.dtypes.as_dtype(value.dtype).as_datatype_enum) if value.dtype != object else 'DT_STRING'}")
    return value


class _SignatureIO:
    """What every run of one signature reads from its SignatureDef, read once (walking proto maps is slow)."""

    __slots__ = ("dtypes", "sorted_inputs", "outputs")

    def __init__(self, sig: meta_graph_pb2.SignatureDef):
        self.dtypes = {name: info.dtype for name, info in sig.inputs.items()}  # its keys: the input names
        self.sorted_inputs = tuple(sorted(self.dtypes))
        self.outputs = tuple(sorted(sig.outputs))


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
        caller_thread_max_ms: a signature whose recent runs took less runs in
            the calling thread (0: never). Only when the session config leaves
            the inter-op pool to TF (``--tensorflow_inter_op_parallelism=0``, no
            ``session_inter_op_thread_pool``); results are the same either way.
    """

    def __init__(self, name: str, version: int, path: str,
                 session_config: tf.compat.v1.ConfigProto | None = None,
                 tags: Sequence[str] = (tf.saved_model.SERVING,), method_name_check: bool = False,
                 caller_thread_max_ms: float = CALLER_THREAD_MAX_MS):
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
        self._io = {key: _SignatureIO(sig) for key, sig in self.signature_defs.items()}
        self._defaults = {key: {alias: tf.make_ndarray(proto) for alias, proto in sig.defaults.items()}
                          for key, sig in self.signature_defs.items() if sig.defaults}
        self._steps: dict[tuple, tuple[list, list]] = {}
        self._options: dict[tuple[int, bool], Any] = {}
        self._cost: dict[str, float] = {}  # signature key -> its fastest recent run, seconds
        self._caller_thread_max_s = caller_thread_max_ms / 1e3 if _pool_is_default(session_config) else 0.0
        self._closed = False
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

    def _step(self, key: str, input_names: tuple[str, ...], output_names: tuple[str, ...]) -> tuple[list, list]:
        """The feed and fetch endpoints (``TF_Output``) of one signature's inputs and outputs, cached."""
        cache_key = (key, input_names, output_names)
        step = self._steps.get(cache_key)
        if step is None:
            sig = self.signature_defs[key]
            with self._lock:
                try:
                    feeds = [self._graph.get_tensor_by_name(sig.inputs[i].name)._as_tf_output() for i in input_names]
                    fetches = [self._graph.get_tensor_by_name(sig.outputs[o].name)._as_tf_output()
                               for o in output_names]
                except (KeyError, ValueError) as e:
                    raise errors.invalid_argument(f"signature {key}: {e}") from None
            step = self._steps[cache_key] = (feeds, fetches)
        return step

    def _run_options(self, timeout_ms: int, caller_thread: bool, cache: bool) -> tuple[Any, bool]:
        """``(TF_Buffer of serialized RunOptions or None for TF's defaults, owned)``.

        Buffers of fixed options (no timeout, ``--rest_api_timeout_in_ms``) are
        cached; a deadline's is ``owned`` by the caller, who deletes it after the run.
        """
        if timeout_ms <= 0 and not caller_thread:
            return None, False
        cache_key = (timeout_ms, caller_thread)
        buffer = self._options.get(cache_key) if cache else None
        if buffer is not None:
            return buffer, False
        options = config_pb2.RunOptions(timeout_in_ms=max(timeout_ms, 0),
                                        inter_op_thread_pool=-1 if caller_thread else 0)
        buffer = tf_session.TF_NewBufferFromString(options.SerializeToString())
        if not cache:
            return buffer, True
        with self._lock:
            if self._closed or cache_key in self._options or len(self._options) >= _MAX_CACHED_OPTIONS:
                return buffer, True
            self._options[cache_key] = buffer
        return buffer, False

    def _use_caller_thread(self, key: str) -> bool:
        """Run in the calling thread when this signature's recent runs were cheap (TF's advice for small graphs)."""
        cost = self._cost.get(key)
        return self._caller_thread_max_s > 0 and cost is not None and cost < self._caller_thread_max_s

    def run_unbatched(self, key: str, inputs: Mapping[str, np.ndarray],
                      output_names: Sequence[str], timeout_ms: int = 0,
                      deadline: float | None = None) -> dict[str, np.ndarray]:
        """Runs validated ``inputs`` through signature ``key``; no batching.

        Like TF Serving's ``Session::Run`` with ``RunOptions``: ``timeout_ms`` > 0
        (``--rest_api_timeout_in_ms``) and ``deadline`` (a ``time.monotonic()``
        instant: the gRPC client's deadline) set ``RunOptions.timeout_in_ms``, so
        the session stops the step and answers DEADLINE_EXCEEDED past it; a
        deadline already passed is answered DEADLINE_EXCEEDED without running.
        All runs of a signature share one set of executors whatever their
        options (``Session::Run`` caches them by feeds and fetches), so a
        per-request timeout costs no graph preparation. Cheap signatures (recent
        runs under ``caller_thread_max_ms``) run in the calling thread
        (``RunOptions.inter_op_thread_pool = -1``), sparing a thread hand-off.
        """
        if deadline is not None:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0:
                raise deadline_exceeded()
            timeout_ms = min(timeout_ms, remaining_ms) if timeout_ms > 0 else remaining_ms
        names = tuple(sorted(inputs))
        outs = tuple(output_names)
        feeds, fetches = self._step(key, names, outs)
        caller_thread = self._use_caller_thread(key)
        options, owned = self._run_options(timeout_ms, caller_thread, cache=deadline is None)
        start = time.perf_counter()
        try:
            values = self._session._call_tf_sessionrun(
                options, {f: inputs[n] for f, n in zip(feeds, names)}, fetches, [], None)
        except tf.errors.OpError as e:
            raise errors.from_tf_error(e) from None
        except (TypeError, ValueError) as e:  # a value the C API cannot turn into a tensor
            raise errors.invalid_argument(" ".join(str(e).split())) from None
        finally:
            if owned:
                tf_session.TF_DeleteBuffer(options)
        elapsed = time.perf_counter() - start
        cost = self._cost.get(key)
        # The signature's cost: its fastest recent run (drifting up 2% a run), not an average that
        # a loaded machine's or a large batch's slow runs would push over the threshold.
        self._cost[key] = elapsed if cost is None else min(elapsed, cost * 1.02)
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
            predict_method_check: bool = True, deadline: float | None = None) -> tuple[str, dict[str, np.ndarray]]:
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
            deadline: ``time.monotonic()`` instant past which the request is not
                run (DEADLINE_EXCEEDED), e.g. a gRPC client's deadline; also bounds
                the session run and the wait in the batching queue.
        """
        key, sig = self.signature(signature_name)
        io = self._io[key]
        if predict_method_check:
            self.check_method(sig)
        checked = self._input_values(key, sig, io, inputs)
        if check_dtypes:
            checked = {n: _check_input(n, io.dtypes[n], v) if n in inputs else v for n, v in checked.items()}
        outputs = list(output_filter) or list(io.outputs)
        seen: set[str] = set()
        for alias in output_filter:
            if alias not in io.outputs:
                raise errors.invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in "
                    f"the set {{{','.join(io.outputs)}}}.")
            if alias in seen:
                raise errors.invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        if self.batcher is not None:
            return key, self.batcher.run(self, key, checked, tuple(outputs), timeout_ms=timeout_ms, deadline=deadline)
        return key, self.run_unbatched(key, checked, outputs, timeout_ms, deadline)

    def _input_values(self, key: str, sig: meta_graph_pb2.SignatureDef, io: _SignatureIO,
                      inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The request's inputs, defaults filled in, checked as TF Serving 2.16.1 checks them.

        ``predict_util.cc`` ``VerifyRequestInputsSize`` (more inputs than the
        signature has, or fewer without ``defaults``), then TF's
        ``saved_model::GetInputValues`` (``tensorflow/cc/saved_model/util.cc``):
        each signature input from the request or its default, and any request
        input the signature does not name refused ("Inputs contains invalid name").
        """
        sent, wanted = set(inputs), io.dtypes.keys()
        if len(sent) > len(wanted) or (len(sent) < len(wanted) and not sig.defaults):
            raise errors.invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(wanted)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(wanted))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - wanted))}}}. "
                f"Missing but required: {{{','.join(sorted(wanted - sent))}}}.")
        defaults = self._defaults.get(key, {})
        values: dict[str, np.ndarray] = {}
        for alias in io.sorted_inputs:
            if alias in inputs:
                values[alias] = np.asarray(inputs[alias])
            elif alias in defaults:
                values[alias] = defaults[alias]
            else:
                raise errors.invalid_argument(
                    f"Signature input alias: {alias}(feed name: {sig.inputs[alias].name}) not found in request and "
                    f"no default value provided. Inputs expected to be in the request {{{','.join(sorted(sent))}}}, "
                    f"or default input alias set: {','.join(sorted(sig.defaults))}")
        if sent and not sent <= wanted:
            raise errors.invalid_argument(
                f"Inputs contains invalid name. Used request inputs: {','.join(sorted(sent & wanted))}, "
                f"request input: {','.join(sorted(sent))}")
        return values

    def close(self) -> None:
        with self._lock:
            self._closed = True
            buffers, self._options = list(self._options.values()), {}
        self._session.close()
        for buffer in buffers:
            tf_session.TF_DeleteBuffer(buffer)

    def __del__(self) -> None:  # an unloaded version is dropped, not closed: free its RunOptions buffers
        for buffer in getattr(self, "_options", {}).values():
            tf_session.TF_DeleteBuffer(buffer)
        self._options = {}


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

"""Server-side batching: concurrent requests merged into one session run.

Mirrors TF Serving's ``--enable_batching``: requests for the same servable
and signature (with the same per-example shapes) queue up; a batch runs when
it reaches ``max_batch_size`` rows or its first request has waited
``batch_timeout_micros``. Batches may be padded up to the next of
``allowed_batch_sizes``. The outputs are split back per request. If a merged
run fails, each request of the batch is re-run alone, so one bad request never
fails its neighbours.

The ``--batching_parameters_file`` is TF Serving's ``BatchingParameters``
text proto, parsed here with a message type built from its field numbers
(that proto is not part of tensorflow-serving-api).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    text_format,
    wrappers_pb2,
)

from serving import errors
from serving.servable import deadline_exceeded

_LOG = logging.getLogger(__name__)

try:
    from google.protobuf import message_factory
    _get_message_class = getattr(message_factory, "GetMessageClass", None)
except ImportError:  # pragma: no cover
    message_factory = None
    _get_message_class = None


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """TF Serving's batching parameters (defaults as TF Serving's)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 1000000
    num_batch_threads: int = os.cpu_count() or 1
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False
    # Not a BatchingParameters field: zoo serve's --eager_batching. batch_timeout_micros is the longest a
    # batch waits; an eager batch stops waiting once no other request is on its way through the server.
    eager: bool = True
    # Not a BatchingParameters field either: zoo serve's --batching_skip_below_micros. A request runs
    # alone, as without batching, once a run of its signature at its size has taken less than this (0: never).
    skip_below_micros: int = 0

    def __post_init__(self):
        if (self.max_batch_size < 1 or self.num_batch_threads < 1 or self.batch_timeout_micros < 0
                or self.skip_below_micros < 0):
            raise ValueError(f"invalid batching parameters {self}")
        if self.allowed_batch_sizes:
            sizes = list(self.allowed_batch_sizes)
            if sizes != sorted(sizes) or sizes[-1] != self.max_batch_size:
                raise ValueError(f"allowed_batch_sizes {sizes} must increase and end with "
                                 f"max_batch_size {self.max_batch_size}")


_INT64 = ("max_batch_size", 1), ("batch_timeout_micros", 2), ("max_enqueued_batches", 3), \
    ("num_batch_threads", 4), ("max_execution_batch_size", 9)


def _batching_parameters_class() -> Any:
    """A message class with the field numbers of TF Serving's BatchingParameters."""
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    f = descriptor_pb2.FileDescriptorProto(name="zoo_batching.proto", package="tensorflow.serving",
                                           syntax="proto3", dependency=["google/protobuf/wrappers.proto"])
    m = f.message_type.add(name="BatchingParameters")
    fd = descriptor_pb2.FieldDescriptorProto
    for name, number in _INT64:
        m.field.add(name=name, number=number, type=fd.TYPE_MESSAGE, type_name=".google.protobuf.Int64Value")
    m.field.add(name="thread_pool_name", number=5, type=fd.TYPE_MESSAGE,
                type_name=".google.protobuf.StringValue")
    m.field.add(name="enable_large_batch_splitting", number=8, type=fd.TYPE_MESSAGE,
                type_name=".google.protobuf.BoolValue")
    m.field.add(name="allowed_batch_sizes", number=6, type=fd.TYPE_INT64, label=fd.LABEL_REPEATED)
    m.field.add(name="pad_variable_length_inputs", number=7, type=fd.TYPE_BOOL)
    pool.Add(f)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    if _get_message_class is not None:
        return _get_message_class(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def parse_batching_parameters(text: str) -> BatchingOptions:
    """Parses a ``BatchingParameters`` text proto (``--batching_parameters_file``).

    >>> parse_batching_parameters("max_batch_size { value: 32 } batch_timeout_micros { value: 500 }")
    ... # doctest: +ELLIPSIS
    BatchingOptions(max_batch_size=32, batch_timeout_micros=500, ...)
    """
    proto = text_format.Parse(text, _batching_parameters_class()())
    kwargs: dict[str, Any] = {}
    for name, _ in _INT64:
        if name != "max_execution_batch_size" and proto.HasField(name):
            kwargs[name] = getattr(proto, name).value
    if proto.allowed_batch_sizes:
        kwargs["allowed_batch_sizes"] = tuple(proto.allowed_batch_sizes)
    kwargs["pad_variable_length_inputs"] = proto.pad_variable_length_inputs
    return BatchingOptions(**kwargs)


def batching_parameters_text(options: BatchingOptions) -> str:
    """The ``BatchingParameters`` text proto for ``options`` (for real TF Serving)."""
    lines = [f"max_batch_size {{ value: {options.max_batch_size} }}",
             f"batch_timeout_micros {{ value: {options.batch_timeout_micros} }}",
             f"max_enqueued_batches {{ value: {options.max_enqueued_batches} }}",
             f"num_batch_threads {{ value: {options.num_batch_threads} }}"]
    lines += [f"allowed_batch_sizes: {s}" for s in options.allowed_batch_sizes]
    if options.pad_variable_length_inputs:
        lines.append("pad_variable_length_inputs: true")
    return "\n".join(lines) + "\n"


class _Task:
    __slots__ = ("deadline", "done", "error", "inputs", "outputs", "rows", "timeout_ms")

    def __init__(self, inputs: Mapping[str, np.ndarray], rows: int, timeout_ms: int = 0,
                 deadline: float | None = None):
        self.inputs = inputs
        self.rows = rows
        self.timeout_ms = timeout_ms
        self.deadline = deadline
        self.outputs: dict[str, np.ndarray] | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


def _batch_limits(tasks: Sequence[_Task]) -> tuple[int, float | None]:
    """Session timeout and deadline of a merged run: the loosest of its requests' (none if one has none)."""
    timeouts = [t.timeout_ms for t in tasks]
    deadlines = [t.deadline for t in tasks]
    timeout_ms = 0 if 0 in timeouts else max(timeouts)
    deadline = None if None in deadlines else max(deadlines)
    return timeout_ms, deadline


class _Arrival:
    """``BatchScheduler.arriving()``'s context: one request on its way through a front."""

    __slots__ = ("scheduler",)

    def __init__(self, scheduler: BatchScheduler):
        self.scheduler = scheduler

    def __enter__(self) -> None:
        self.scheduler._arrivals.append(None)
        self.scheduler._local.arriving = True

    def __exit__(self, *exc: object) -> None:
        self.scheduler._arrived()  # a no-op once run() has counted it


class _Batch:
    __slots__ = ("opened", "rows", "tasks")

    def __init__(self):
        self.tasks: list[_Task] = []
        self.rows = 0
        self.opened = time.monotonic()


class BatchScheduler:
    """Merges concurrent runs of the same signature into batches.

    ``run(servable, key, inputs, outputs)`` blocks until the batch holding the
    request has run and returns this request's rows of the outputs. The first
    request of a batch leads it: it waits for ``batch_timeout_micros`` (or a
    full batch) and for one of ``num_batch_threads`` execution slots, during
    which later requests join, then runs the batch on its own thread (no
    hand-off to a worker thread, so an idle server adds no latency).

    With ``options.eager`` (the default; TF Serving's ``batch_timeout_micros``
    is the *maximum* wait), the leader also stops waiting once every request
    the fronts have started to decode has joined a batch (:meth:`arriving`):
    a lone request then runs at once instead of waiting out the timeout, and
    under load batches still fill while the execution slots are busy.
    ``eager=False`` waits the whole timeout, as TF Serving's scheduler does.

    With ``options.skip_below_micros`` the scheduler times every run it makes
    and keeps, per servable, signature and number of rows, the fastest run seen
    (a floor that load cannot raise: warmup replays and quiet moments set it).
    A request whose floor is below the threshold skips the queue and runs at
    once on its own thread, as without batching: on a model that cheap, the
    hand-offs and turn-taking of a batch cost more than one merged run saves.
    Sizes never run yet, and costlier ones, are batched as usual. (With
    ``allowed_batch_sizes`` a lone request runs padded, so only requests of
    an allowed size are ever timed at their own size.)
    """

    def __init__(self, options: BatchingOptions):
        self.options = options
        self._timeout = options.batch_timeout_micros / 1e6
        self._cond = threading.Condition()
        self._open: dict[tuple, _Batch] = {}
        self._slots = threading.BoundedSemaphore(options.num_batch_threads)
        self._pending = 0
        # One entry per request a front is decoding that has not reached run() yet. deque.append and
        # .pop are atomic under the GIL, so counting a request takes no lock (only the last one out
        # takes _cond, to wake a waiting leader).
        self._arrivals: collections.deque = collections.deque()
        self._local = threading.local()
        self._stopped = False
        self._skip_below = options.skip_below_micros / 1e6
        # servable -> {(signature key, rows): its fastest run, seconds}; weak, so an unloaded version goes
        self._fastest: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        # requests that ran alone because their size's fastest run was cheap: a statistic, counted
        # without a lock (CPython switches threads at few bytecodes; a lost count would change no result)
        self.skipped_requests = 0
        self.batch_sizes: list[int] = []  # executed batch sizes (rows), newest last, bounded
        self.executed_batches = 0
        self.executed_rows = 0

    def arriving(self) -> contextlib.AbstractContextManager:
        """Counts one request from the moment a front starts decoding it until it reaches :meth:`run` in
        this thread (or ends without it): an eager batch's leader waits for such requests, not the clock."""
        return _Arrival(self)

    @property
    def arriving_requests(self) -> int:
        """Requests the fronts are decoding that have not reached :meth:`run` yet."""
        return len(self._arrivals)

    def _arrived(self) -> None:
        """This thread's request has arrived (or left): no longer counted as on its way."""
        if getattr(self._local, "arriving", False):
            self._local.arriving = False
            self._arrivals.pop()
            if not self._arrivals:
                with self._cond:  # a leader checks the count holding _cond, so it cannot miss this
                    self._cond.notify_all()

    def run(self, servable: Any, key: str, inputs: Mapping[str, np.ndarray],
            outputs: Sequence[str], timeout_ms: int = 0, deadline: float | None = None) -> dict[str, np.ndarray]:
        """This request's rows of its batch's outputs.

        ``timeout_ms`` (REST's session timeout) and ``deadline`` (the gRPC
        client's, ``time.monotonic()``) bound the request: past its deadline it
        is answered DEADLINE_EXCEEDED and never run, whether it is still queued
        or not yet started; a batch's session run gets the latest deadline of
        the requests in it, as TF Serving's ``BatchingSession`` does.
        """
        rows = {v.shape[0] if v.ndim else -1 for v in inputs.values()}
        (n,) = rows if len(rows) == 1 else {-1}  # -1: a scalar input or inputs of different batch sizes
        if not 0 < n < self.options.max_batch_size:  # runs alone: no batch waits for it
            self._arrived()
            if n < self.options.max_batch_size:  # not batchable
                return servable.run_unbatched(key, inputs, outputs, timeout_ms, deadline)
            with self._slots:
                return servable.run_unbatched(key, inputs, outputs, timeout_ms, deadline)
        if self._skip_below and self._is_cheap(servable, key, n):
            self._arrived()
            self.skipped_requests += 1
            return self._timed_run(servable, key, inputs, outputs, n, timeout_ms, deadline)
        shapes = tuple((name, v.dtype.str, v.shape[1:]) for name, v in sorted(inputs.items()))
        qkey = (id(servable), key, tuple(outputs), shapes)
        task = _Task(inputs, n, timeout_ms, deadline)
        with self._cond:
            if self._stopped:
                raise errors.ServingError(errors.grpc.StatusCode.UNAVAILABLE, "batch scheduler stopped")
            batch = self._open.get(qkey)
            leader = batch is None or batch.rows + n > self.options.max_batch_size
            if leader:
                if self._pending >= self.options.max_enqueued_batches:
                    raise errors.ServingError(errors.grpc.StatusCode.UNAVAILABLE,
                                              "The batch scheduling queue is full")
                batch = self._open[qkey] = _Batch()
                self._pending += 1
            batch.tasks.append(task)
            batch.rows += n
            self._arrived()
            if batch.rows >= self.options.max_batch_size:
                self._cond.notify_all()
        if leader:
            self._lead(qkey, batch, servable, key, outputs)
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def _is_cheap(self, servable: Any, key: str, rows: int) -> bool:
        """Whether a run of ``rows`` rows of this signature has ever taken less than ``skip_below_micros``."""
        fastest = self._fastest.get(servable)
        best = fastest.get((key, rows)) if fastest else None
        return best is not None and best < self._skip_below

    def _timed_run(self, servable: Any, key: str, inputs: Mapping[str, np.ndarray], outputs: Sequence[str],
                   rows: int, timeout_ms: int = 0, deadline: float | None = None) -> dict[str, np.ndarray]:
        """``servable.run_unbatched``, keeping its time as the size's fastest run when it is (with a skip rule)."""
        start = time.perf_counter()
        result = servable.run_unbatched(key, inputs, outputs, timeout_ms, deadline)
        if self._skip_below:
            elapsed = time.perf_counter() - start
            known = self._fastest.get(servable)
            best = known.get((key, rows)) if known else None
            if best is not None and elapsed >= best:
                return result  # the common case: no new record, no lock taken
            with self._cond:
                fastest = self._fastest.setdefault(servable, {})
                best = fastest.get((key, rows))
                if best is None or elapsed < best:
                    fastest[key, rows] = elapsed
                    if elapsed < self._skip_below and (best is None or best >= self._skip_below):
                        _LOG.info("batching: %r signature '%s' ran %d row(s) in %.0f us (< %d): such requests "
                                  "now skip the batch queue", servable, key, rows, elapsed * 1e6,
                                  self.options.skip_below_micros)
        return result

    def _close(self, qkey: tuple, batch: _Batch) -> None:
        if self._open.get(qkey) is batch:
            del self._open[qkey]
        self._pending -= 1

    def _lead(self, qkey: tuple, batch: _Batch, servable: Any, key: str, outputs: Sequence[str]) -> None:
        deadline = batch.opened + self._timeout
        with self._cond:
            while batch.rows < self.options.max_batch_size and not self._stopped:
                if self.options.eager and not self._arrivals:
                    break  # no other request is on its way: waiting longer cannot fill the batch
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        with self._slots:  # while the slots are busy, more requests join this batch
            with self._cond:
                self._close(qkey, batch)
                tasks = list(batch.tasks)
            self._execute(servable, key, outputs, tasks)

    def _padded_size(self, rows: int) -> int:
        for size in self.options.allowed_batch_sizes:
            if size >= rows:
                return size
        return rows

    def _execute(self, servable: Any, key: str, outputs: Sequence[str], tasks: list[_Task]) -> None:
        now = time.monotonic()
        expired = [t for t in tasks if t.deadline is not None and t.deadline <= now]
        for task in expired:  # its client has stopped waiting: never run it
            task.error = deadline_exceeded()
            task.done.set()
        tasks = [t for t in tasks if t.error is None]
        if not tasks:
            return
        timeout_ms, deadline = _batch_limits(tasks)
        try:
            if len(tasks) == 1 and not self.options.allowed_batch_sizes:
                tasks[0].outputs = self._timed_run(servable, key, tasks[0].inputs, outputs, tasks[0].rows,
                                                   timeout_ms, deadline)
                self._record(tasks[0].rows)
            else:
                self._execute_merged(servable, key, outputs, tasks, timeout_ms, deadline)
        except errors.ServingError as e:
            if len(tasks) == 1:
                tasks[0].error = e
            else:  # find the culprit: run each request on its own
                for task in tasks:
                    try:
                        task.outputs = servable.run_unbatched(key, task.inputs, outputs, task.timeout_ms,
                                                              task.deadline)
                    except BaseException as err:
                        task.error = err
        except BaseException as e:
            for task in tasks:
                task.error = e
        finally:
            for task in tasks:
                task.done.set()

    def _execute_merged(self, servable: Any, key: str, outputs: Sequence[str], tasks: list[_Task],
                        timeout_ms: int = 0, deadline: float | None = None) -> None:
        total = sum(t.rows for t in tasks)
        padded = self._padded_size(total)
        merged = {}
        for name in tasks[0].inputs:
            parts = [t.inputs[name] for t in tasks]
            if padded > total:
                parts.append(np.repeat(parts[-1][-1:], padded - total, axis=0))
            merged[name] = np.concatenate(parts, axis=0)
        result = self._timed_run(servable, key, merged, outputs, padded, timeout_ms, deadline)
        for name, value in result.items():
            if value.ndim == 0 or value.shape[0] != padded:
                raise errors.invalid_argument(
                    f"batched output '{name}' has shape {list(value.shape)}, not batch {padded} first")
        self._record(total)
        start = 0
        for task in tasks:
            task.outputs = {n: v[start:start + task.rows] for n, v in result.items()}
            start += task.rows

    def _record(self, rows: int) -> None:
        with self._cond:
            self.executed_batches += 1
            self.executed_rows += rows
            self.batch_sizes.append(rows)
            if len(self.batch_sizes) > 2000:
                del self.batch_sizes[:1000]

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self.executed_batches or self.skipped_requests:
            _LOG.info("batching: %d batches, %.2f rows per batch; %d requests skipped the queue",
                      self.executed_batches, self.executed_rows / max(self.executed_batches, 1),
                      self.skipped_requests)

"""Serving latency and throughput: REST and gRPC at several concurrencies, against two floors.

Starts ``zoo serve`` (``python -m serving.cli serve``) in a subprocess, without
and with ``--enable_batching``, and drives it with asyncio clients (one
thread, ``concurrency`` requests in flight: the load generator costs little
CPU of the 2 it shares with the server). For each cell it prints p50/p99
latency (ms), throughput (requests/s) and the server's CPU time per request
(ms, from /proc). Beside them, two floors:

* the in-process call of the same signature on the same SavedModel (the
  model's own cost; the faster of the session callable and the TF2 call),
  its session configured as the servers' (``--server_arg``'s
  ``--tensorflow_intra_op_parallelism`` and the like);
* the transport floor (``benchmarks/transport_floor.py``): the same gRPC and
  HTTP stacks answering the same bytes with no parsing and no model.

Beside the in-process floor (calls back to back) it times the same call made
1 ms apart: what the model costs a server at concurrency 1, whose request
thread and TF's thread pools idle between requests.

``--repeats N`` measures every served cell N times in one run (fresh servers
each time, unbatched and batched of a repeat next to each other) and judges the
goals on the medians, printing each repeat's figure beside them: on a shared
VM one ratio of two cells is not a verdict.

A second case, side by side in the same run, is compute-heavy: the project's
``rnn`` family (a Bi-LSTM text classifier, 128 and 256 units wide by default:
``--heavy_units``) exported as
the Trainer exports, where one row alone costs far more per row than a row of a
batch, so batching can pay.

Batched servers run twice: as ``zoo serve`` does by default (``--eager_batching``:
a batch stops waiting once no other request is being decoded) and, as mode
``batch-tfs``, with ``--eager_batching=false`` (every batch waits out
``batch_timeout_micros`` unless full, TF Serving's timing).

It ends with the issue's goals (gRPC/REST p50 within 1 ms of the in-process call
at concurrency 1 on the tiny model; batched throughput at the top concurrency
>= 2x unbatched on the heavy model and >= 0.95x on the tiny one, adding no more
than ``batch_timeout_micros`` at concurrency 1) and what batching can save at
most: model time (one row alone vs a row of a full batch), never transport
time. (An earlier version turned that into a throughput ceiling; concurrent
unbatched runs contend for the cores, so measured gains exceeded it.) Both servers of a case (unbatched
and batched) run with ``--grpc_max_threads``/``--rest_api_num_threads`` of 4x
``max_batch_size``, so a full batch's requests can wait in the server at once.

    python benchmarks/serving_latency.py --model_base_path outputs/serving/digits_cnn --model_name digits_cnn

Point it at another server speaking TF Serving's APIs (real TF Serving from
``serving/deploy``) with ``--target_grpc host:8500 --target_rest http://host:8501``.
Without ``--model_base_path`` a tiny generated model (tests.fixtures.toy_model) is used.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from transport_floor import PREDICT_METHOD  # benchmarks/ is on sys.path when run as a script

_HERE = os.path.dirname(os.path.abspath(__file__))
if os.path.dirname(_HERE) not in sys.path:  # the project's packages (models/ for the compute-heavy case)
    sys.path.insert(1, os.path.dirname(_HERE))


TFS_TIMING = "batch-tfs"  # the batched mode with --eager_batching=false


@dataclasses.dataclass
class Cell:
    path: str
    mode: str
    concurrency: int
    p50: float
    p99: float
    rps: float
    server_cpu_ms: float | None = None  # server CPU time per request
    repeat: int = 0


def median_cell(cells: list[Cell]) -> Cell:
    """One cell holding the median of each figure over repeats of the same measurement.

    >>> c = median_cell([Cell("gRPC", "unbatched", 1, p50, 2.0, rps, None, r)
    ...                  for r, (p50, rps) in enumerate([(1.0, 900.0), (3.0, 100.0), (2.0, 500.0)])])
    >>> c.p50, c.rps, c.server_cpu_ms, c.repeat
    (2.0, 500.0, None, -1)
    """
    def med(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return float(np.median(known)) if known else None
    first = cells[0]
    return Cell(first.path, first.mode, first.concurrency, med([c.p50 for c in cells]),
                med([c.p99 for c in cells]), med([c.rps for c in cells]),
                med([c.server_cpu_ms for c in cells]), repeat=-1)


def verdict(values: list[float], goal: Callable[[float], bool], fmt: str = "{:.2f}") -> str:
    """'median M (repeats: a, b, c; goal met in k of n)' for per-repeat figures; one figure alone is its verdict.

    >>> verdict([2.4, 1.8, 2.1], lambda x: x >= 2, "{:.2f}x")
    'median 2.10x (repeats: 2.40x, 1.80x, 2.10x; goal met in 2 of 3)'
    >>> verdict([0.5], lambda x: x <= 1)
    '0.50 (goal met)'
    """
    if len(values) == 1:
        return f"{fmt.format(values[0])} (goal {'met' if goal(values[0]) else 'NOT met'})"
    met = sum(bool(goal(v)) for v in values)
    each = ", ".join(fmt.format(v) for v in values)
    return f"median {fmt.format(float(np.median(values)))} (repeats: {each}; goal met in {met} of {len(values)})"


def _toy_model() -> Any:
    """tests/fixtures/toy_model.py, loaded by path (another distribution installs a top-level ``tests``)."""
    import importlib.util
    path = os.path.join(os.path.dirname(_HERE), "tests", "fixtures", "toy_model.py")
    spec = importlib.util.spec_from_file_location("zoo_toy_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


def _inputs_from_signature(sig: Any, batch: int, examples: list[bytes] | None) -> dict[str, np.ndarray]:
    from serving.servable import numpy_dtype
    rng = np.random.default_rng(0)
    out = {}
    for name, info in sig.inputs.items():
        dtype = numpy_dtype(info.dtype)
        dims = [batch if d.size < 0 else d.size for d in info.tensor_shape.dim] or [batch]
        if dtype == np.dtype(object):
            if not examples:
                raise SystemExit(f"input '{name}' is a string (serialized examples): pass --examples")
            out[name] = np.array((examples * batch)[:batch], dtype=object)
        elif np.issubdtype(dtype, np.integer):
            out[name] = rng.integers(0, 17, dims).astype(dtype)
        else:
            out[name] = rng.random(dims).astype(dtype)
    return out


def _summary(latencies: list[float], elapsed: float) -> tuple[float, float, float]:
    """p50, p99 (ms) and calls/s of timed calls."""
    ms = np.array(latencies) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), len(latencies) / elapsed


def _time_calls(call: Callable[[], Any], total: int, gap_s: float = 0.0) -> tuple[float, float, float]:
    """p50, p99 (ms) and calls/s of ``total`` in-process calls, back to back or ``gap_s`` apart."""
    for _ in range(min(20, total)):
        call()
    latencies = []
    start = time.perf_counter()
    for _ in range(total):
        if gap_s:
            time.sleep(gap_s)
        t = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t)
    return _summary(latencies, time.perf_counter() - start)


async def _drive(make_worker: Callable[[], Awaitable[Callable[[], Awaitable[bytes]]]], concurrency: int,
                 total: int, server_pid: int | None) -> tuple[float, float, float, float | None]:
    """Runs ``total`` requests, ``concurrency`` in flight; p50, p99 (ms), req/s, server CPU ms/request."""
    calls = [await make_worker() for _ in range(concurrency)]
    for call in calls:  # warm-up: every connection once
        await call()
    remaining = iter(range(total))
    latencies: list[float] = []

    async def worker(call: Callable[[], Awaitable[bytes]]) -> None:
        for _ in remaining:
            t = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - t)

    cpu0, start = _cpu_seconds(server_pid), time.perf_counter()
    await asyncio.gather(*(worker(c) for c in calls))
    elapsed, cpu1 = time.perf_counter() - start, _cpu_seconds(server_pid)
    cpu = (cpu1 - cpu0) / total * 1e3 if cpu0 is not None and cpu1 is not None else None
    return (*_summary(latencies, elapsed), cpu)


def _grpc_worker_factory(target: str, request: bytes) -> Callable[[], Awaitable[Any]]:
    """Each worker: its own aio channel, sending the serialized PredictRequest; a call returns the answer."""
    import grpc

    async def make() -> Callable[[], Awaitable[bytes]]:
        channel = grpc.aio.insecure_channel(target, options=[("grpc.max_receive_message_length", -1)])
        predict = channel.unary_unary(PREDICT_METHOD)  # bytes in, bytes out: no client-side codec cost

        async def call() -> bytes:
            return await predict(request, timeout=60)
        return call
    return make


def _rest_worker_factory(base_url: str, path: str, body: bytes) -> Callable[[], Awaitable[Any]]:
    """Each worker: one keep-alive HTTP/1.1 connection, POSTing the JSON body; a call returns the answer."""
    parts = urlsplit(base_url)
    head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()

    async def make() -> Callable[[], Awaitable[bytes]]:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)

        async def call() -> bytes:
            writer.write(head + body)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            answer = await reader.readexactly(length)
            if b" 200 " not in status:
                raise RuntimeError(f"REST {status!r}: {answer[:200]!r}")
            return answer
        return call
    return make


@dataclasses.dataclass
class Target:
    """A server to drive: its gRPC target, REST base URL and (when local) process."""

    grpc: str
    rest: str
    proc: subprocess.Popen | None = None
    log: str = ""  # the server's stderr (a file), when local

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self) -> str:
        """Stops a local server; returns what it logged."""
        if not self.proc:
            return ""
        self.proc.terminate()
        self.proc.wait(timeout=30)
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()


def _start(cmd: list[str], log_dir: str) -> Target:
    """Starts a server whose first stdout line says 'Serving ... 127.0.0.1:<gRPC>, ... 127.0.0.1:<REST>'."""
    log = tempfile.NamedTemporaryFile("w", dir=log_dir, suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    log.close()
    line = proc.stdout.readline()
    if not line.startswith("Serving"):
        proc.kill()
        raise SystemExit(f"server failed to start: {line!r} ({' '.join(cmd)}); log: {log.name}")
    grpc_port, rest_port = (p.rsplit(":", 1)[1].rstrip(",\n") for p in line.split() if p.startswith("127.0.0.1:"))
    return Target(f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{rest_port}", proc, log.name)


def _rows_per_batch(log: str) -> str:
    """'N batches, X rows per batch' from the server's stop log line, or ''."""
    match = re.search(r"batching: (\d+ batches, [\d.]+ rows per batch(?:; \d+ requests skipped the queue)?)", log)
    return match.group(1) if match else ""


def _start_zoo_serve(args: argparse.Namespace, batching_file: str | None, log_dir: str,
                     flags: list[str] | None = None) -> Target:
    cmd = [sys.executable, "-m", "serving.cli", "serve", "--port", "0",
           "--rest_api_port", str(_free_port()), "--model_name", args.model_name,
           "--model_base_path", args.model_base_path, "--file_system_poll_wait_seconds", "0",
           *args.server_arg, *(flags or [])]
    if batching_file:
        cmd += ["--enable_batching", "--batching_parameters_file", batching_file]
    return _start(cmd, log_dir)


class Bench:
    """Builds the requests once and measures cells against targets."""

    def __init__(self, args: argparse.Namespace, inputs: dict[str, np.ndarray]):
        from serving.client import GrpcClient, b64
        self.args = args
        self.rows: list[Cell] = []
        self.grpc_request = GrpcClient.predict_request(args.model_name, inputs,
                                                       args.signature_name).SerializeToString()
        json_inputs = {k: ([b64(x) for x in v] if v.dtype == object else v.tolist()) for k, v in inputs.items()}
        self.rest_body = json.dumps({"signature_name": args.signature_name, "inputs": json_inputs}).encode()
        self.rest_path = f"/v1/models/{args.model_name}:predict"
        self.grpc_answer = b""
        self.rest_answer = b""

    def capture_answers(self, target: Target) -> None:
        """One real call each way: checks the server answers, keeps the bytes for the floor."""
        from tensorflow_serving.apis import predict_pb2

        async def once(make_worker: Callable[[], Awaitable[Callable[[], Awaitable[bytes]]]]) -> bytes:
            return await (await make_worker())()
        self.grpc_answer = asyncio.run(once(_grpc_worker_factory(target.grpc, self.grpc_request)))
        if not predict_pb2.PredictResponse.FromString(self.grpc_answer).outputs:
            raise SystemExit("the server's PredictResponse has no outputs")
        self.rest_answer = asyncio.run(once(_rest_worker_factory(target.rest, self.rest_path, self.rest_body)))

    def measure(self, target: Target, mode: str, concurrencies: list[int], label: str = "",
                repeat: int = 0) -> None:
        for concurrency in concurrencies:
            for name, factory in ((f"gRPC{label}", _grpc_worker_factory(target.grpc, self.grpc_request)),
                                  (f"REST{label}", _rest_worker_factory(target.rest, self.rest_path,
                                                                        self.rest_body))):
                cell = Cell(name, mode, concurrency,
                            *asyncio.run(_drive(factory, concurrency, self.args.requests, target.pid)), repeat)
                self.rows.append(cell)
                cpu = f" server CPU {cell.server_cpu_ms:.2f} ms/req" if cell.server_cpu_ms is not None else ""
                print(f"  {name:11s} {mode:9s} c={concurrency:<3d} r={repeat} p50={cell.p50:.2f}ms "
                      f"p99={cell.p99:.2f}ms {cell.rps:.0f} req/s{cpu}", flush=True)

    def cells(self, path: str, mode: str, concurrency: int) -> dict[int, Cell]:
        """Each repeat's cell of one measurement, by repeat."""
        return {r.repeat: r for r in self.rows if (r.path, r.mode, r.concurrency) == (path, mode, concurrency)}

    def find(self, path: str, mode: str, concurrency: int) -> Cell | None:
        """The measurement's cell (the median over repeats), or None."""
        cells = list(self.cells(path, mode, concurrency).values())
        return median_cell(cells) if cells else None

    def paired(self, path: str, mode_a: str, mode_b: str, concurrency: int,
               figure: Callable[[Cell, Cell], float]) -> list[float]:
        """``figure(a, b)`` of each repeat that measured both modes (cells of a repeat ran close in time)."""
        a, b = self.cells(path, mode_a, concurrency), self.cells(path, mode_b, concurrency)
        return [figure(a[r], b[r]) for r in sorted(a) if r in b]


PACED = "in-process session, 1 ms apart"
HANDLER = "in-process gRPC handler"
HANDLER_PACED = "in-process handler, 1 ms apart"


def grpc_handler_call(model_name: str, model_base_path: str, session_config: Any,
                      request: bytes) -> tuple[Any, Callable[[], bytes]]:
    """``zoo serve``'s gRPC Predict without gRPC: ``(core, call)``, where ``call()`` parses the serialized
    request, runs ``PredictionServicer.Predict`` on its own ServerCore and serializes the answer."""
    from tensorflow_serving.apis import predict_pb2

    from serving import config as config_lib
    from serving.grpc_service import PredictionServicer
    from serving.manager import ServerCore
    core = ServerCore(config_lib.single_model_config(model_name, model_base_path), 0, None, False, session_config)
    servicer = PredictionServicer(core)

    def call() -> bytes:
        return servicer.Predict(predict_pb2.PredictRequest.FromString(request), None).SerializeToString()
    return core, call


def _report(bench: Bench, floor_ms: float, batch_row_ms: float, top: int, title: str,
            throughput_goal: float) -> None:
    print(f"\n== {title}\n{'path':32s} {'mode':9s} {'conc':>4s} {'rep':>3s} {'p50 ms':>8s} {'p99 ms':>8s} "
          f"{'req/s':>8s} {'srv CPU ms/req':>15s}")
    for r in bench.rows:
        cpu = f"{r.server_cpu_ms:15.2f}" if r.server_cpu_ms is not None else f"{'-':>15s}"
        print(f"{r.path:32s} {r.mode:9s} {r.concurrency:4d} {r.repeat:3d} {r.p50:8.2f} {r.p99:8.2f} {r.rps:8.0f} {cpu}")
    for proto in ("gRPC", "REST"):
        mode = "unbatched" if bench.cells(proto, "unbatched", 1) else "external"
        added = [c.p50 - floor_ms for _, c in sorted(bench.cells(proto, mode, 1).items())]
        if added:
            print(f"{proto} p50 at concurrency 1 minus the in-process floor {floor_ms:.2f} ms: "
                  f"{verdict(added, lambda x: x <= 1.0, '{:+.2f} ms')} (goal: within +1 ms)")
    transport1, paced = bench.find("gRPC floor", "transport", 1), bench.find(PACED, "-", 1)
    if transport1:
        print(f"  of which the gRPC stack alone (same bytes, no parsing, no model): {transport1.p50:.2f} ms")
    if paced:
        print(f"  and the model called 1 ms apart, as a server at concurrency 1 calls it: {paced.p50:.2f} ms "
              f"(back to back: {floor_ms:.2f} ms)")
    handler, handler_paced = bench.find(HANDLER, "-", 1), bench.find(HANDLER_PACED, "-", 1)
    if handler and handler_paced:
        print(f"  and the gRPC handler (parse, Predict, serialize) without gRPC: {handler_paced.p50:.2f} ms "
              f"called 1 ms apart (back to back: {handler.p50:.2f} ms)")
    for proto in ("gRPC", "REST"):
        busy, served = bench.find(f"{proto} floor", "busy", 1), bench.find(proto, "unbatched", 1)
        if busy and served and handler_paced:
            print(f"  {proto}: the floor server holding the CPU {handler_paced.p50:.2f} ms per call, doing no "
                  f"work: {busy.p50:.2f} ms; zoo serve: {served.p50:.2f} ms")
    cores = os.cpu_count() or 1
    saved = max(0.0, floor_ms - batch_row_ms)
    modes = {"batched": "", TFS_TIMING: " (--eager_batching=false: TF Serving's timing)"}
    for mode, note in modes.items():
        for proto in ("gRPC", "REST"):
            unb, bat = bench.find(proto, "unbatched", top), bench.find(proto, mode, top)
            if not (unb and bat):
                continue
            ratios = bench.paired(proto, "unbatched", mode, top, lambda u, b: b.rps / u.rps)
            per_request = cores / unb.rps * 1e3  # wall-clock core-ms per request on this machine, client included
            print(f"{proto} throughput at concurrency {top}{note}, batched/unbatched: "
                  f"{verdict(ratios, lambda x: x >= throughput_goal, '{:.2f}x')} (goal: >= {throughput_goal}x); "
                  f"the model costs {floor_ms:.2f} ms alone and {batch_row_ms:.2f} ms per row of a full batch, so "
                  f"batching saves at most {saved:.2f} ms of the {per_request:.2f} core-ms an unbatched request "
                  f"takes here (more where concurrent unbatched runs contend for the cores)")
    timeout_ms = bench.args.batch_timeout_micros / 1e3
    for mode, note in modes.items():
        for proto in ("gRPC", "REST"):
            added = bench.paired(proto, "unbatched", mode, 1, lambda u, b: b.p50 - u.p50)
            if added:
                print(f"{proto} p50 latency added by batching at concurrency 1{note}: "
                      f"{verdict(added, lambda x: x <= timeout_ms, '{:+.2f} ms')} "
                      f"(goal: <= batch_timeout_micros = {timeout_ms:.2f} ms)")


def _batching_file(args: argparse.Namespace, directory: str) -> str:
    from serving import batching
    params = os.path.join(directory, "batching.config")
    with open(params, "w", encoding="utf-8") as f:
        f.write(batching.batching_parameters_text(batching.BatchingOptions(
            max_batch_size=args.max_batch_size, batch_timeout_micros=args.batch_timeout_micros,
            num_batch_threads=args.num_batch_threads)))
    return params


def _in_process(args: argparse.Namespace, bench: Bench, servable: Any, inputs: dict, full: dict,
                tf2_fn: Any = None, handler: Callable[[], bytes] | None = None) -> tuple[float, float]:
    """The in-process floors (and ``handler``'s times, not a floor); returns (floor ms, ms per row of a full batch)."""
    import tensorflow as tf
    session = _time_calls(lambda: servable.run(args.signature_name, inputs), args.requests)
    bench.rows.append(Cell("in-process session", "-", 1, *session))
    floor_ms = session[0]
    paced = _time_calls(lambda: servable.run(args.signature_name, inputs), min(args.requests, 1000), gap_s=1e-3)
    bench.rows.append(Cell(PACED, "-", 1, *paced))
    if tf2_fn is not None:
        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        tf2 = _time_calls(lambda: tf2_fn(**tensors), args.requests)
        bench.rows.append(Cell("in-process TF2 signature", "-", 1, *tf2))
        floor_ms = min(floor_ms, tf2[0])
    if handler is not None:
        bench.rows.append(Cell(HANDLER, "-", 1, *_time_calls(handler, args.requests)))
        bench.rows.append(Cell(HANDLER_PACED, "-", 1, *_time_calls(handler, min(args.requests, 1000), gap_s=1e-3)))
    batch_call = _time_calls(lambda: servable.run(args.signature_name, full), max(20, args.requests // 10))
    bench.rows.append(Cell(f"in-process batch of {args.max_batch_size}", "-", 1, *batch_call))
    for row in bench.rows:
        print(f"  {row.path} p50={row.p50:.2f}ms p99={row.p99:.2f}ms {row.rps:.0f} calls/s", flush=True)
    return floor_ms, batch_call[0] / args.max_batch_size


def _served_cells(args: argparse.Namespace, bench: Bench, tmp: str, transport_floor: bool) -> list:
    """Every repeat of: unbatched cells, the transport floor (optionally) and batched cells (a fresh
    server per concurrency). Returns (repeat, mode, concurrency, the batcher's log line) of each batched server."""
    batch_stats = []
    for repeat in range(args.repeats):
        batch_stats += _served_repeat(args, bench, tmp, transport_floor, repeat)
    return batch_stats


def _served_repeat(args: argparse.Namespace, bench: Bench, tmp: str, transport_floor: bool, repeat: int) -> list:
    top = max(args.concurrency)
    for concurrency in args.concurrency:  # a fresh server per cell, as the batched ones: equally warm
        target = _start_zoo_serve(args, None, tmp)
        try:
            bench.capture_answers(target)
            bench.measure(target, "unbatched", [concurrency], repeat=repeat)
        finally:
            target.stop()
    if transport_floor:
        answers = {}
        for name, data in (("grpc", bench.grpc_answer), ("rest", bench.rest_answer)):
            answers[name] = os.path.join(tmp, f"answer.{name}")
            with open(answers[name], "wb") as f:
                f.write(data)
        floor_cmd = [sys.executable, os.path.join(_HERE, "transport_floor.py"),
                     "--grpc_response", answers["grpc"], "--rest_response", answers["rest"]]
        floor = _start(floor_cmd, tmp)
        try:
            bench.measure(floor, "transport", sorted({1, top}), label=" floor", repeat=repeat)
        finally:
            floor.stop()
        handler = bench.find(HANDLER_PACED, "-", 1)
        if handler:  # the same stack around a handler as long as ours, that does nothing
            floor = _start([*floor_cmd, "--busy_micros", f"{handler.p50 * 1e3:.0f}"], tmp)
            try:
                bench.measure(floor, "busy", [1], label=" floor", repeat=repeat)
            finally:
                floor.stop()
    params = _batching_file(args, tmp)
    batch_stats = []
    modes = [("batched", [])] + ([(TFS_TIMING, ["--eager_batching=false"])] if args.tf_serving_timing else [])
    for mode, flags in modes:
        for concurrency in args.concurrency:  # a fresh server per concurrency: its batch sizes are that load's
            target = _start_zoo_serve(args, params, tmp, flags)
            try:
                bench.measure(target, mode, [concurrency], repeat=repeat)
            finally:
                batch_stats.append((repeat, mode, concurrency, _rows_per_batch(target.stop())))
    return batch_stats


def _print_batch_stats(batch_stats: list) -> None:
    for repeat, mode, concurrency, stats in batch_stats:
        print(f"{mode} server at concurrency {concurrency}, repeat {repeat} (gRPC and REST runs): "
              f"{stats or 'no batching log'}")


def write_compute_heavy_model(export_dir: str, units: int, length: int, vocab: int = 5000) -> str:
    """The project's ``rnn`` family (Bi-LSTM text classifier) as a plain SavedModel: ``predict_raw(text_ids)``.

    Exported as the Trainer does (``components/trainer/export.py``): the Keras
    variables tracked on a ``tf.Module``, a ``tf.function`` signature per entry point.
    """
    import tensorflow as tf

    from models import registry
    from models.base import DataSpec, FeatureInfo

    family = registry.get("rnn")
    hp = family.hparams({"cell": "lstm", "units": units, "depth": 1, "bidirectional": True,
                         "embedding_dim": 64, "dropout": 0.0})
    data = DataSpec({"text_ids": FeatureInfo((length,), "int64")}, "label", 2,
                    extras={"vocab_sizes": {"text": vocab}})
    model = family.build(hp, data)
    module = tf.Module()
    module.model_variables = [v.value for v in model.variables]

    @tf.function(input_signature=[tf.TensorSpec([None, length], tf.int64, name="text_ids")])
    def predict_raw(text_ids: tf.Tensor) -> dict:
        return {"probabilities": model({"text_ids": text_ids}, training=False)}

    tf.saved_model.save(module, export_dir, signatures={"predict_raw": predict_raw, "serving_default": predict_raw})
    return export_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_base_path", default="")
    parser.add_argument("--model_name", default="digits")
    parser.add_argument("--signature_name", default="predict_raw")
    parser.add_argument("--examples", default="", help="TFRecord glob for string (tf.Example) inputs")
    parser.add_argument("--batch", type=int, default=1, help="examples per request")
    parser.add_argument("--requests", type=int, default=1000, help="requests per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeats", type=int, default=1,
                        help="measure every served cell this many times (fresh servers); goals judged on medians")
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument("--batch_timeout_micros", type=int, default=2000)
    parser.add_argument("--num_batch_threads", type=int, default=os.cpu_count() or 1,
                        help="batches run at once (default: the cores, TF Serving's default)")
    parser.add_argument("--server_arg", action="append", default=[],
                        help="extra zoo serve flag, e.g. --server_arg=--tensorflow_inter_op_parallelism=-1")
    parser.add_argument("--target_grpc", default="", help="measure this server instead of starting zoo serve")
    parser.add_argument("--target_rest", default="", help="its REST base URL (with --target_grpc)")
    parser.add_argument("--tf_serving_timing", type=int, default=1,
                        help="also measure batching with --eager_batching=false (a batch waits out its timeout, "
                             "as in TF Serving); 0: skip")
    parser.add_argument("--heavy_units", type=int, nargs="+", default=[128, 256],
                        help="LSTM units of each compute-heavy case (0: skip them)")
    parser.add_argument("--heavy_length", type=int, default=64, help="tokens per request of the heavy case")
    parser.add_argument("--heavy_requests", type=int, default=300, help="requests per cell of the heavy case")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    # Enough request threads that max_batch_size requests can wait in the batcher at once (the default,
    # 4 per core, caps a batch at 8 rows); the same flags for the unbatched and the batched servers.
    args.server_arg = [f"--grpc_max_threads={4 * args.max_batch_size}",
                       f"--rest_api_num_threads={4 * args.max_batch_size}", *args.server_arg]

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from serving.cli import parse_serve_args, read_examples, session_config_from
    from serving.servable import Servable
    from serving.versions import version_dirs

    tmp = tempfile.TemporaryDirectory(prefix="serving_bench_")
    if not args.model_base_path:
        args.model_base_path = os.path.join(tmp.name, args.model_name)
        _toy_model().write_toy_model(args.model_base_path, 1)
        print(f"no --model_base_path: using a tiny generated model at {args.model_base_path}")
    args.model_base_path = os.path.abspath(args.model_base_path)
    versions = version_dirs(args.model_base_path)
    if not versions:
        raise SystemExit(f"no versions under {args.model_base_path}")
    version = max(versions)
    examples = read_examples(args.examples, 64) if args.examples else None

    # The in-process floors run with the servers' session settings (--server_arg's --tensorflow_* flags):
    # the first session's thread pools are this process's.
    session_config = session_config_from(parse_serve_args(args.server_arg))
    servable = Servable(args.model_name, version, versions[version], session_config=session_config)
    _, sig = servable.signature(args.signature_name)
    inputs = _inputs_from_signature(sig, args.batch, examples)
    full = _inputs_from_signature(sig, args.max_batch_size * args.batch, examples)

    import tensorflow as tf
    fn = tf.saved_model.load(versions[version]).signatures[args.signature_name]
    bench = Bench(args, inputs)
    print(f"model {args.model_name} v{version}, signature {args.signature_name}, batch {args.batch}, "
          f"{os.cpu_count()} CPUs, {args.requests} requests per cell")
    core, handler = grpc_handler_call(args.model_name, args.model_base_path, session_config, bench.grpc_request)
    floor_ms, batch_row_ms = _in_process(args, bench, servable, inputs, full, fn, handler)
    core.stop()
    top = max(args.concurrency)

    if args.target_grpc:
        target = Target(args.target_grpc, args.target_rest or "http://127.0.0.1:8501")
        bench.capture_answers(target)
        for repeat in range(args.repeats):
            bench.measure(target, "external", args.concurrency, repeat=repeat)
        _report(bench, floor_ms, batch_row_ms, top, f"{args.model_name} on {target.grpc}", 0.95)
        return
    batch_stats = _served_cells(args, bench, tmp.name, transport_floor=True)

    heavy_cases = []
    for units in [u for u in args.heavy_units if u > 0]:
        heavy_args = argparse.Namespace(**{**vars(args), "model_name": "bilstm", "signature_name": "predict_raw",
                                           "requests": args.heavy_requests,
                                           "concurrency": sorted({1, top}),
                                           "model_base_path": os.path.join(tmp.name, f"bilstm{units}")})
        print(f"\ncompute-heavy case: the rnn family's Bi-LSTM ({units} units, "
              f"{args.heavy_length} tokens), {args.heavy_requests} requests per cell", flush=True)
        write_compute_heavy_model(os.path.join(heavy_args.model_base_path, "1"), units, args.heavy_length)
        heavy_servable = Servable("bilstm", 1, os.path.join(heavy_args.model_base_path, "1"),
                                  session_config=session_config)
        _, heavy_sig = heavy_servable.signature("predict_raw")
        heavy = Bench(heavy_args, _inputs_from_signature(heavy_sig, 1, None))
        heavy_floor = _in_process(heavy_args, heavy, heavy_servable, _inputs_from_signature(heavy_sig, 1, None),
                                  _inputs_from_signature(heavy_sig, args.max_batch_size, None))
        heavy_servable.close()
        heavy_cases.append((units, heavy, heavy_floor, _served_cells(heavy_args, heavy, tmp.name,
                                                                     transport_floor=False)))

    print(f"\nbatching parameters: max_batch_size {args.max_batch_size}, batch_timeout_micros "
          f"{args.batch_timeout_micros}, num_batch_threads {args.num_batch_threads}; server flags "
          f"{' '.join(args.server_arg)}")
    _report(bench, floor_ms, batch_row_ms, top, f"{args.model_name}: tiny model (goals: p50 within +1 ms of "
                                                 f"in-process; batching >= 0.95x unbatched)", 0.95)
    _print_batch_stats(batch_stats)
    for units, heavy, heavy_floor, heavy_stats in heavy_cases:
        _report(heavy, *heavy_floor, top, f"Bi-LSTM, {units} units: compute-heavy model (goal: batched >= 2x "
                                          f"unbatched at concurrency {top})", 2.0)
        _print_batch_stats(heavy_stats)
    tmp.cleanup()


if __name__ == "__main__":
    main()

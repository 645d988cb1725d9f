"""Serving latency and throughput: REST and gRPC at several concurrencies, against two floors.

Starts ``zoo serve`` (``python -m serving.cli serve``) in a subprocess, without
and with ``--enable_batching``, and drives it with asyncio clients (one
thread, ``concurrency`` requests in flight: the load generator costs little
CPU of the 2 it shares with the server). For each cell it prints p50/p99
latency (ms), throughput (requests/s) and the server's CPU time per request
(ms, from /proc). Beside them, two floors:

* the in-process call of the same signature on the same SavedModel (the
  model's own cost; the faster of the session callable and the TF2 call);
* the transport floor (``benchmarks/transport_floor.py``): the same gRPC and
  HTTP stacks answering the same bytes with no parsing and no model.

It ends with the issue's goals (gRPC p50 within 1 ms of the in-process call at
concurrency 1; batching >= 3x throughput at the top concurrency) and the
ceiling arithmetic puts on the batching gain: batching can only save model
time (one row alone vs a row of a full batch), never transport time.

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


@dataclasses.dataclass
class Cell:
    path: str
    mode: str
    concurrency: int
    p50: float
    p99: float
    rps: float
    server_cpu_ms: float | None = None  # server CPU time per request


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


def _time_calls(call: Callable[[], Any], total: int) -> tuple[float, float, float]:
    """p50, p99 (ms) and calls/s of ``total`` back-to-back in-process calls."""
    for _ in range(min(20, total)):
        call()
    latencies = []
    start = time.perf_counter()
    for _ in range(total):
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
    match = re.search(r"batching: (\d+ batches, [\d.]+ rows per batch)", log)
    return match.group(1) if match else ""


def _start_zoo_serve(args: argparse.Namespace, batching_file: str | None, log_dir: str) -> Target:
    cmd = [sys.executable, "-m", "serving.cli", "serve", "--port", "0",
           "--rest_api_port", str(_free_port()), "--model_name", args.model_name,
           "--model_base_path", args.model_base_path, "--file_system_poll_wait_seconds", "0",
           *args.server_arg]
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

    def measure(self, target: Target, mode: str, concurrencies: list[int], label: str = "") -> None:
        for concurrency in concurrencies:
            for name, factory in ((f"gRPC{label}", _grpc_worker_factory(target.grpc, self.grpc_request)),
                                  (f"REST{label}", _rest_worker_factory(target.rest, self.rest_path,
                                                                        self.rest_body))):
                cell = Cell(name, mode, concurrency,
                            *asyncio.run(_drive(factory, concurrency, self.args.requests, target.pid)))
                self.rows.append(cell)
                cpu = f" server CPU {cell.server_cpu_ms:.2f} ms/req" if cell.server_cpu_ms is not None else ""
                print(f"  {name:11s} {mode:9s} c={concurrency:<3d} p50={cell.p50:.2f}ms p99={cell.p99:.2f}ms "
                      f"{cell.rps:.0f} req/s{cpu}", flush=True)

    def find(self, path: str, mode: str, concurrency: int) -> Cell | None:
        return next((r for r in self.rows if (r.path, r.mode, r.concurrency) == (path, mode, concurrency)), None)


def _report(bench: Bench, floor_ms: float, batch_row_ms: float, top: int) -> None:
    print(f"\n{'path':30s} {'mode':9s} {'conc':>4s} {'p50 ms':>8s} {'p99 ms':>8s} {'req/s':>8s} "
          f"{'srv CPU ms/req':>15s}")
    for r in bench.rows:
        cpu = f"{r.server_cpu_ms:15.2f}" if r.server_cpu_ms is not None else f"{'-':>15s}"
        print(f"{r.path:30s} {r.mode:9s} {r.concurrency:4d} {r.p50:8.2f} {r.p99:8.2f} {r.rps:8.0f} {cpu}")
    grpc1 = bench.find("gRPC", "unbatched", 1) or bench.find("gRPC", "external", 1)
    transport1 = bench.find("gRPC floor", "transport", 1)
    if grpc1:
        print(f"\ngRPC p50 at concurrency 1: {grpc1.p50:.2f} ms = in-process floor {floor_ms:.2f} ms "
              f"{grpc1.p50 - floor_ms:+.2f} ms (goal: within +1 ms)")
    if transport1:
        print(f"  of which the gRPC stack alone (same bytes, no parsing, no model): {transport1.p50:.2f} ms")
    cores = os.cpu_count() or 1
    saved = max(0.0, floor_ms - batch_row_ms)
    for proto in ("gRPC", "REST"):
        unb, bat = bench.find(proto, "unbatched", top), bench.find(proto, "batched", top)
        if not (unb and bat):
            continue
        per_request = cores / unb.rps * 1e3  # CPU ms per request on this machine, client included
        ceiling = per_request / max(per_request - saved, 1e-9)
        print(f"{proto} throughput at concurrency {top}: batched/unbatched = {bat.rps / unb.rps:.2f}x "
              f"(goal: >= 3x); estimated ceiling here {ceiling:.2f}x: unbatched costs {per_request:.2f} CPU ms/request "
              f"on {cores} cores, and batching can only save the model's {floor_ms:.2f} ms alone minus "
              f"{batch_row_ms:.2f} ms per row of a full batch = {saved:.2f} ms")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_base_path", default="")
    parser.add_argument("--model_name", default="digits")
    parser.add_argument("--signature_name", default="predict_raw")
    parser.add_argument("--examples", default="", help="TFRecord glob for string (tf.Example) inputs")
    parser.add_argument("--batch", type=int, default=1, help="examples per request")
    parser.add_argument("--requests", type=int, default=1000, help="requests per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument("--batch_timeout_micros", type=int, default=2000)
    parser.add_argument("--num_batch_threads", type=int, default=1)
    parser.add_argument("--server_arg", action="append", default=[],
                        help="extra zoo serve flag, e.g. --server_arg=--tensorflow_inter_op_parallelism=-1")
    parser.add_argument("--target_grpc", default="", help="measure this server instead of starting zoo serve")
    parser.add_argument("--target_rest", default="", help="its REST base URL (with --target_grpc)")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from serving import batching
    from serving.cli import read_examples
    from serving.servable import Servable
    from serving.versions import version_dirs
    from tests.fixtures import toy_model

    tmp = tempfile.TemporaryDirectory(prefix="serving_bench_")
    if not args.model_base_path:
        args.model_base_path = os.path.join(tmp.name, args.model_name)
        toy_model.write_toy_model(args.model_base_path, 1)
        print(f"no --model_base_path: using a tiny generated model at {args.model_base_path}")
    args.model_base_path = os.path.abspath(args.model_base_path)
    versions = version_dirs(args.model_base_path)
    if not versions:
        raise SystemExit(f"no versions under {args.model_base_path}")
    version = max(versions)
    examples = read_examples(args.examples, 64) if args.examples else None

    servable = Servable(args.model_name, version, versions[version])
    _, sig = servable.signature(args.signature_name)
    inputs = _inputs_from_signature(sig, args.batch, examples)
    full = _inputs_from_signature(sig, args.max_batch_size * args.batch, examples)

    import tensorflow as tf
    fn = tf.saved_model.load(versions[version]).signatures[args.signature_name]
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    bench = Bench(args, inputs)
    print(f"model {args.model_name} v{version}, signature {args.signature_name}, batch {args.batch}, "
          f"{os.cpu_count()} CPUs, {args.requests} requests per cell")
    session = _time_calls(lambda: servable.run(args.signature_name, inputs), args.requests)
    tf2 = _time_calls(lambda: fn(**tensors), args.requests)
    batch_call = _time_calls(lambda: servable.run(args.signature_name, full), max(50, args.requests // 10))
    bench.rows += [Cell("in-process session callable", "-", 1, *session),
                   Cell("in-process TF2 signature", "-", 1, *tf2),
                   Cell(f"in-process batch of {args.max_batch_size}", "-", 1, *batch_call)]
    for row in bench.rows:
        print(f"  {row.path} p50={row.p50:.2f}ms p99={row.p99:.2f}ms {row.rps:.0f} calls/s", flush=True)
    floor_ms = min(session[0], tf2[0])
    batch_row_ms = batch_call[0] / args.max_batch_size
    top = max(args.concurrency)

    if args.target_grpc:
        target = Target(args.target_grpc, args.target_rest or "http://127.0.0.1:8501")
        bench.capture_answers(target)
        bench.measure(target, "external", args.concurrency)
        _report(bench, floor_ms, batch_row_ms, top)
        return

    target = _start_zoo_serve(args, None, tmp.name)
    try:
        bench.capture_answers(target)
        bench.measure(target, "unbatched", args.concurrency)
    finally:
        target.stop()

    answers = {}
    for name, data in (("grpc", bench.grpc_answer), ("rest", bench.rest_answer)):
        answers[name] = os.path.join(tmp.name, f"answer.{name}")
        with open(answers[name], "wb") as f:
            f.write(data)
    floor = _start([sys.executable, os.path.join(_HERE, "transport_floor.py"),
                    "--grpc_response", answers["grpc"], "--rest_response", answers["rest"]], tmp.name)
    try:
        bench.measure(floor, "transport", sorted({1, top}), label=" floor")
    finally:
        floor.stop()

    params = os.path.join(tmp.name, "batching.config")
    with open(params, "w", encoding="utf-8") as f:
        f.write(batching.batching_parameters_text(batching.BatchingOptions(
            max_batch_size=args.max_batch_size, batch_timeout_micros=args.batch_timeout_micros,
            num_batch_threads=args.num_batch_threads)))
    batch_stats = []
    for concurrency in args.concurrency:  # a fresh server per concurrency: its batch sizes are that load's
        target = _start_zoo_serve(args, params, tmp.name)
        try:
            bench.measure(target, "batched", [concurrency])
        finally:
            batch_stats.append((concurrency, _rows_per_batch(target.stop())))
    _report(bench, floor_ms, batch_row_ms, top)
    for concurrency, stats in batch_stats:
        print(f"batched server at concurrency {concurrency} (gRPC and REST runs): {stats or 'no batching log'}")
    tmp.cleanup()


if __name__ == "__main__":
    main()

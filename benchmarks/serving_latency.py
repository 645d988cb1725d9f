"""Serving latency and throughput: REST and gRPC at several concurrencies, vs the in-process floor.

Starts ``zoo serve`` (``python -m serving.cli serve``) in a subprocess twice,
without and with ``--enable_batching``, and drives it from client threads.
Prints p50/p99 latency (ms) and throughput (requests/s) per protocol and
concurrency, beside the in-process signature call on the same SavedModel.

    python benchmarks/serving_latency.py --model_base_path outputs/serving/digits --model_name digits

Without ``--model_base_path`` a tiny generated model (serving.toy_model) is used.
Inputs are generated from the signature's metadata (integers in [0, 16] for
integer inputs, e.g. ``predict_raw``'s 8x8 digit image); pass ``--examples``
(TFRecord glob) for an examples-input signature such as ``serving_default``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _inputs_from_signature(sig: Any, batch: int, examples: list[bytes] | None) -> dict[str, np.ndarray]:
    from serving.servable import numpy_dtype  # pylint: disable=import-outside-toplevel
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


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    ms = np.array(latencies) * 1e3
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _drive(call: Callable[[], None], concurrency: int, total: int) -> tuple[float, float, float]:
    """Runs ``total`` calls over ``concurrency`` threads; returns p50, p99 (ms) and requests/s."""
    for _ in range(min(20, total)):
        call()  # warm-up
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        mine = []
        while True:
            with lock:
                if next(counter, None) is None:
                    break
            start = time.perf_counter()
            call()
            mine.append(time.perf_counter() - start)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    p50, p99 = _percentiles(latencies)
    return p50, p99, len(latencies) / elapsed


def _start_server(args: argparse.Namespace, batching_file: str | None) -> tuple[subprocess.Popen, int, int]:
    grpc_port, rest_port = _free_port(), _free_port()
    cmd = [sys.executable, "-m", "serving.cli", "serve", "--port", str(grpc_port), "--rest_api_port",
           str(rest_port), "--model_name", args.model_name, "--model_base_path", args.model_base_path,
           "--file_system_poll_wait_seconds", "0"]
    if batching_file:
        cmd += ["--enable_batching", "--batching_parameters_file", batching_file]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()  # "Serving ..." once the models are loaded
    if not line.startswith("Serving"):
        proc.kill()
        raise SystemExit(f"server failed to start: {line!r}")
    return proc, grpc_port, rest_port


def _bench_server(args: argparse.Namespace, inputs: dict[str, np.ndarray], batching_file: str | None,
                  rows: list[tuple]) -> None:
    from serving.client import GrpcClient, RestClient, b64  # pylint: disable=import-outside-toplevel
    proc, grpc_port, rest_port = _start_server(args, batching_file)
    mode = "batched" if batching_file else "unbatched"
    try:
        grpc_client = GrpcClient(f"127.0.0.1:{grpc_port}")
        rest = RestClient(f"http://127.0.0.1:{rest_port}")
        request = grpc_client.predict_request(args.model_name, inputs, args.signature_name)
        json_inputs = {k: ([b64(x) for x in v] if v.dtype == object else v.tolist()) for k, v in inputs.items()}
        body = {"signature_name": args.signature_name, "inputs": json_inputs}
        path = f"/v1/models/{args.model_name}:predict"

        def grpc_call() -> None:
            grpc_client.prediction.Predict(request, timeout=60)

        def rest_call() -> None:
            status, _ = rest.request("POST", path, body)
            assert status == 200

        for concurrency in args.concurrency:
            for name, call in (("gRPC", grpc_call), ("REST", rest_call)):
                rows.append((name, mode, concurrency, *_drive(call, concurrency, args.requests)))
                print(f"  {name:5s} {mode:9s} c={concurrency:<3d} p50={rows[-1][3]:.2f}ms "
                      f"p99={rows[-1][4]:.2f}ms {rows[-1][5]:.0f} req/s", flush=True)
        grpc_client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model_base_path", default="")
    parser.add_argument("--model_name", default="digits")
    parser.add_argument("--signature_name", default="predict_raw")
    parser.add_argument("--examples", default="", help="TFRecord glob for string (tf.Example) inputs")
    parser.add_argument("--batch", type=int, default=1, help="examples per request")
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--max_batch_size", type=int, default=32)
    parser.add_argument("--batch_timeout_micros", type=int, default=2000)
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from serving import batching, toy_model  # pylint: disable=import-outside-toplevel
    from serving.cli import read_examples  # pylint: disable=import-outside-toplevel
    from serving.manager import numeric_subdirs  # pylint: disable=import-outside-toplevel
    from serving.servable import Servable  # pylint: disable=import-outside-toplevel

    tmp = tempfile.TemporaryDirectory(prefix="serving_bench_")
    if not args.model_base_path:
        args.model_base_path = os.path.join(tmp.name, args.model_name)
        toy_model.write_toy_model(args.model_base_path, 1)
        print(f"no --model_base_path: using a tiny generated model at {args.model_base_path}")
    args.model_base_path = os.path.abspath(args.model_base_path)
    versions = numeric_subdirs(args.model_base_path)
    if not versions:
        raise SystemExit(f"no versions under {args.model_base_path}")
    version = max(versions)
    examples = read_examples(args.examples, 64) if args.examples else None

    servable = Servable(args.model_name, version, versions[version])
    _, sig = servable.signature(args.signature_name)
    inputs = _inputs_from_signature(sig, args.batch, examples)

    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    fn = tf.saved_model.load(versions[version]).signatures[args.signature_name]
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    rows: list[tuple] = []
    print(f"model {args.model_name} v{version}, signature {args.signature_name}, batch {args.batch}, "
          f"{os.cpu_count()} CPUs")
    rows.append(("in-process session.run", "-", 1,
                 *_drive(lambda: servable.run(args.signature_name, inputs), 1, args.requests)))
    rows.append(("in-process TF2 signature", "-", 1, *_drive(lambda: fn(**tensors), 1, args.requests)))
    for row in rows:
        print(f"  {row[0]} p50={row[3]:.2f}ms p99={row[4]:.2f}ms {row[5]:.0f} calls/s", flush=True)

    _bench_server(args, inputs, None, rows)
    params = os.path.join(tmp.name, "batching.config")
    with open(params, "w", encoding="utf-8") as f:
        f.write(batching.batching_parameters_text(batching.BatchingOptions(
            max_batch_size=args.max_batch_size, batch_timeout_micros=args.batch_timeout_micros,
            num_batch_threads=max(1, (os.cpu_count() or 2) // 2))))
    _bench_server(args, inputs, params, rows)

    print(f"\n{'path':26s} {'mode':9s} {'conc':>4s} {'p50 ms':>8s} {'p99 ms':>8s} {'req/s':>8s}")
    for name, mode, conc, p50, p99, rps in rows:
        print(f"{name:26s} {mode:9s} {conc:4d} {p50:8.2f} {p99:8.2f} {rps:8.0f}")
    floor = rows[0][3]
    grpc1 = next(r for r in rows if r[0] == "gRPC" and r[1] == "unbatched" and r[2] == 1)[3]
    print(f"\ngRPC p50 at concurrency 1 is {grpc1 - floor:+.2f} ms over the in-process call "
          f"(goal: within 1 ms)")
    top = max(args.concurrency)
    for proto in ("gRPC", "REST"):
        unb = next(r for r in rows if r[0] == proto and r[1] == "unbatched" and r[2] == top)[5]
        bat = next(r for r in rows if r[0] == proto and r[1] == "batched" and r[2] == top)[5]
        print(f"{proto} throughput at concurrency {top}: batched/unbatched = {bat / unb:.2f}x (goal: >= 3x)")
    tmp.cleanup()


if __name__ == "__main__":
    main()

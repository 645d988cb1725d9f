"""The transport floor: gRPC and HTTP servers that answer every call with fixed bytes.

They run on the same stacks as ``zoo serve`` (grpcio's thread-pool server with
the same options, the stdlib threading HTTP/1.1 server) and answer TF
Serving's ``PredictionService/Predict`` method and any REST ``POST`` with the
bytes a real answer has, without parsing the request or running a model. What
a client measures against them is what the serving stack costs before any work
of ours: the part of the latency no server code can remove. With
``--busy_micros`` each answer first holds the CPU that long without doing any
work: what the stack adds around a handler that takes that long.

Started by ``benchmarks/serving_latency.py``; by hand::

    python benchmarks/transport_floor.py --grpc_response resp.pb --rest_response resp.json
"""

from __future__ import annotations

import argparse
import signal
import socket
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc

PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"


def busy(micros: float) -> None:
    """Holds the CPU (and the GIL) for ``micros``, as a handler's Python work would, without doing any."""
    end = time.perf_counter() + micros / 1e6
    while time.perf_counter() < end:
        pass


def grpc_floor_server(response: bytes, port: int = 0, busy_micros: float = 0) -> tuple[grpc.Server, int]:
    """A gRPC server answering ``Predict`` with ``response`` (serialized), unparsed, after ``busy_micros``."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64),
                         options=[("grpc.max_receive_message_length", 64 << 20),
                                  ("grpc.max_send_message_length", -1), ("grpc.so_reuseport", 0)])
    service, method = PREDICT_METHOD.rsplit("/", 1)
    def answer(request: bytes, context: grpc.ServicerContext) -> bytes:  # bytes in, bytes out
        busy(busy_micros)
        return response
    handler = grpc.unary_unary_rpc_method_handler(answer)
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service[1:], {method: handler})])
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    return server, bound


def rest_floor_server(response: bytes, port: int = 0, busy_micros: float = 0) -> ThreadingHTTPServer:
    """An HTTP/1.1 keep-alive server answering every POST with ``response`` (JSON), after ``busy_micros``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16  # as zoo serve: headers and body leave in one write

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as zoo serve

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            busy(busy_micros)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(response)))
            self.end_headers()
            self.wfile.write(response)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grpc_response", required=True, help="file: serialized PredictResponse")
    parser.add_argument("--rest_response", required=True, help="file: REST predict answer (JSON)")
    parser.add_argument("--busy_micros", type=float, default=0,
                        help="each answer first holds the CPU this long, as a handler's work would (default 0)")
    args = parser.parse_args()
    with open(args.grpc_response, "rb") as f:
        grpc_response = f.read()
    with open(args.rest_response, "rb") as f:
        rest_response = f.read()
    grpc_server, grpc_port = grpc_floor_server(grpc_response, busy_micros=args.busy_micros)
    rest = rest_floor_server(rest_response, busy_micros=args.busy_micros)
    grpc_server.start()
    threading.Thread(target=rest.serve_forever, daemon=True).start()
    print(f"Serving the transport floor: gRPC on 127.0.0.1:{grpc_port}, "
          f"REST on 127.0.0.1:{rest.server_address[1]}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    rest.shutdown()
    grpc_server.stop(0)


if __name__ == "__main__":
    main()

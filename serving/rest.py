"""TF Serving's REST API over a threaded stdlib HTTP server.

Routes (case-insensitive, as ``http_rest_api_util.cc``):

* ``GET /v1/models/{name}[/versions/{v}|/labels/{l}]`` -> model status;
* ``GET .../metadata`` -> model metadata;
* ``POST .../{name}[/versions/{v}|/labels/{l}]:(predict|classify|regress)``.

Errors are ``{"error": "<message>"}`` with TF Serving's HTTP status for the
error code. Bodies over ``max_request_bytes`` are refused with 413 before
they are read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
)

from serving import errors, json_codec, service
from serving.manager import ServerCore

_PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE)
_STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.IGNORECASE)
_LOG = logging.getLogger(__name__)


def _model_spec(name: str, version: str | None, label: str | None) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=unquote(name))
    if version:
        try:
            spec.version.value = int(version)
        except ValueError:
            raise errors.invalid_argument(f"Failed to convert version: {version} to numeric.") from None
    if label:
        spec.version_label = unquote(label)
    return spec


class RestApi:
    """The REST request processor: (method, path, body) -> (HTTP status, JSON).

    ``timeout_ms`` is ``--rest_api_timeout_in_ms`` (TF Serving's default 30 s):
    the session run of a request past it fails with DEADLINE_EXCEEDED (504).
    """

    def __init__(self, core: ServerCore, timeout_ms: int = 30000):
        self.core = core
        self.timeout_ms = max(int(timeout_ms), 0)

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        start = time.perf_counter()
        path = path.split("?", 1)[0]
        status = "OK"
        try:
            return 200, self._dispatch(method, path, body)
        except errors.ServingError as e:
            status = e.code.name
            return e.http_status, {"error": e.message}
        except Exception as e:  # never take the server down
            status = "INTERNAL"
            _LOG.exception("REST %s %s failed", method, path)
            return 500, {"error": f"Internal error: {type(e).__name__}: {e}"}
        finally:
            match = _PREDICT_PATH.fullmatch(path) if method == "POST" else _STATUS_PATH.fullmatch(path)
            model = unquote(match.group(1) or "") if match else ""
            api = match.group(4).lower() if match and method == "POST" else ""
            self.core.metrics.record_request(model, api, "REST", status, (time.perf_counter() - start) * 1e6)

    def _dispatch(self, method: str, path: str, body: bytes) -> Any:
        malformed = errors.invalid_argument(f"Malformed request: {method} {path}")
        if method == "POST":
            match = _PREDICT_PATH.fullmatch(path)
            if not match:
                raise malformed
            name, version, label, verb = match.groups()
            return self._post(_model_spec(name, version, label), verb.lower(), body)
        if method == "GET":
            match = _STATUS_PATH.fullmatch(path)
            if not match:
                raise malformed
            name, version, label, sub = match.groups()
            if not name:
                raise errors.invalid_argument("Missing model name in request.")
            spec = _model_spec(name, version, label)
            if sub:
                request = get_model_metadata_pb2.GetModelMetadataRequest(
                    model_spec=spec, metadata_field=[service.SIGNATURE_DEF_FIELD])
                return json_codec.metadata_to_json(service.metadata(self.core, request))
            request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
            return json_codec.proto_to_json(service.model_status(self.core, request))
        raise malformed

    def _post(self, spec: model_pb2.ModelSpec, verb: str, body: bytes) -> Any:
        doc = json_codec.parse_body(body)
        if verb == "predict":
            servable = service.resolve(self.core, spec)

            def infos(signature_name: str) -> Any:
                spec.signature_name = signature_name
                return service.signature_inputs(servable, spec)

            inputs, fmt = json_codec.decode_predict(doc, infos)
            _, outputs = service.predict(self.core, spec, inputs, servable=servable,
                                         timeout_ms=self.timeout_ms)
            return json_codec.encode_predict(outputs, fmt)
        spec.signature_name, request_input = json_codec.decode_classify_regress(doc, verb)
        if verb == "classify":
            return json_codec.encode_classify(
                service.classify(self.core, spec, request_input, timeout_ms=self.timeout_ms)[1])
        return json_codec.encode_regress(
            service.regress(self.core, spec, request_input, timeout_ms=self.timeout_ms)[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one write (no Nagle/delayed-ACK stall)
    timeout = 120  # seconds a connection may idle or trickle before it is dropped
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        _LOG.debug("%s - %s", self.address_string(), format % args)

    def _reply(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload, indent=None).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if self.server.cors:  # TF Serving's AddCORSHeaders
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Allow-Methods", "POST, GET")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            self._reply(411, {"error": "Chunked request bodies are not supported; send Content-Length"})
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._reply(400, {"error": "Invalid Content-Length header"})
            return None
        limit = self.server.max_request_bytes
        if length > limit:
            self.close_connection = True  # the unread rest must not be parsed as a request
            if length <= 16 * limit:  # drain (discarding) so the client reads the answer, not a reset
                remaining = length
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 16))
                    if not chunk:
                        break
                    remaining -= len(chunk)
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                        {"error": f"Request body of {length} bytes exceeds the limit of {limit} bytes"})
            return None
        return self.rfile.read(length) if length else b""

    def _handle(self, method: str) -> None:
        body = self._body() if method in ("POST", "PUT", "DELETE") else b""
        if body is None:
            return
        path = self.path
        prometheus = self.server.prometheus_path
        if prometheus and path.split("?", 1)[0] == prometheus:
            self._reply(200, self.server.api.core.metrics.page().encode("utf-8"), "text/plain")
            return
        if not path.lower().startswith("/v1/"):
            self._reply(404, {"error": f"Not found: {method} {path}; the REST API lives under /v1/models"})
            return
        if method == "OPTIONS":  # a CORS preflight, as TF Serving answers it
            origin = self.headers.get("Origin", "")
            if re.search("https?://", origin):
                self._reply(200, b"")
            else:
                self._reply(400, {"error": "Origin header is missing in CORS preflight"})
            return
        with self.server.workers:  # --rest_api_num_threads requests at a time
            with self.server.api.core.arriving() if method == "POST" else contextlib.nullcontext():
                answer = self.server.api.handle(method, path, body)
            self._reply(*answer)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_OPTIONS(self) -> None:
        self._handle("OPTIONS")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], api: RestApi, max_request_bytes: int, num_threads: int,
                 cors: bool, prometheus_path: str | None):
        self.api = api
        self.max_request_bytes = max_request_bytes
        self.workers = threading.BoundedSemaphore(max(num_threads, 1))
        self.cors = cors
        self.prometheus_path = prometheus_path
        super().__init__(address, _Handler)


class RestServer:
    """Serves :class:`RestApi` on ``host:port`` (port 0 picks a free one) in a thread.

    Args:
        core: the ServerCore.
        host, port: address to bind.
        max_request_bytes: largest body (413 past it).
        num_threads: ``--rest_api_num_threads``: requests processed at once.
        timeout_ms: ``--rest_api_timeout_in_ms``.
        cors: ``--rest_api_enable_cors_support``.
        prometheus_path: where to serve the Prometheus page (``--monitoring_config_file``), or None.
    """

    def __init__(self, core: ServerCore, host: str = "127.0.0.1", port: int = 0,
                 max_request_bytes: int = 64 << 20, num_threads: int = 4 * (os.cpu_count() or 1),
                 timeout_ms: int = 30000, cors: bool = False, prometheus_path: str | None = None):
        self._server = _Server((host, port), RestApi(core, timeout_ms), max_request_bytes, num_threads, cors,
                               prometheus_path)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="rest", daemon=True)

    def start(self) -> RestServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

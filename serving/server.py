"""The local model server: one :class:`ServerCore` behind gRPC and REST.

Example::

    with ModelServer(single_model_config("digits", "/models/digits")) as server:
        print(server.grpc_port, server.rest_port)
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from serving import config as config_lib
from serving.batching import BatchingOptions
from serving.grpc_service import GrpcServer
from serving.manager import ServerCore
from serving.rest import RestServer

_LOG = logging.getLogger(__name__)


class ModelServer:
    """Loads the configured models and serves them over gRPC and REST.

    Args:
        config: the ModelServerConfig.
        port: gRPC port (0: a free one; None: no gRPC on TCP).
        rest_api_port: REST port (0: a free one; None: no REST).
        host: address to bind (loopback unless told otherwise).
        file_system_poll_wait_seconds: seconds between version polls.
        batching: server-side batching options, or None.
        max_request_bytes: largest request body accepted (REST 413, gRPC RESOURCE_EXHAUSTED).
        allow_version_labels_for_unavailable_models: as TF Serving's flag.
        model_config_file: a config file to re-read every ``model_config_file_poll_wait_seconds``.
        session_config: optional ``tf.compat.v1.ConfigProto``.
        grpc_socket_path: also serve gRPC on this Unix socket.
        grpc_channel_arguments: extra gRPC server arguments, ``[(key, value)]``.
        grpc_max_threads: gRPC worker threads.
        grpc_credentials: ``grpc.ServerCredentials`` (SSL), or None for insecure.
        rest_api_num_threads: REST requests processed at once.
        rest_api_timeout_in_ms: session run timeout of REST requests (0: none).
        rest_api_enable_cors_support: CORS headers on REST answers.
        prometheus_path: serve Prometheus metrics at this REST path (None: off).
        saved_model_tags: MetaGraph tags to load.
        enable_signature_method_name_check: TF Serving's method-name check (off by default).
        enable_model_warmup: replay ``assets.extra/tf_serving_warmup_requests`` before AVAILABLE.
        num_request_iterations_for_warmup: times each warmup record runs.
        grpc_tensor_content: Predict outputs as ``tensor_content`` instead of typed fields.
        enable_grpc_healthcheck_service: serve ``grpc.health.v1.Health`` on the gRPC port.
    """

    def __init__(self, config: config_lib.ModelServerConfig, port: int | None = 0,
                 rest_api_port: int | None = 0, host: str = "127.0.0.1",
                 file_system_poll_wait_seconds: float = 1.0, batching: BatchingOptions | None = None,
                 max_request_bytes: int = 64 << 20,
                 allow_version_labels_for_unavailable_models: bool = False,
                 model_config_file: str | None = None, model_config_file_poll_wait_seconds: float = 0,
                 session_config: Any = None, grpc_socket_path: str = "",
                 grpc_channel_arguments: Sequence[tuple[str, Any]] = (), grpc_max_threads: int = 64,
                 grpc_credentials: Any = None, rest_api_num_threads: int = 4 * (os.cpu_count() or 1),
                 rest_api_timeout_in_ms: int = 30000, rest_api_enable_cors_support: bool = False,
                 prometheus_path: str | None = None, saved_model_tags: Sequence[str] = ("serve",),
                 enable_signature_method_name_check: bool = False, enable_model_warmup: bool = True,
                 num_request_iterations_for_warmup: int = 1, grpc_tensor_content: bool = False,
                 enable_grpc_healthcheck_service: bool = False):
        self.core = ServerCore(config, file_system_poll_wait_seconds, batching,
                               allow_version_labels_for_unavailable_models, session_config,
                               saved_model_tags=tuple(saved_model_tags),
                               enable_signature_method_name_check=enable_signature_method_name_check,
                               enable_model_warmup=enable_model_warmup,
                               num_request_iterations_for_warmup=num_request_iterations_for_warmup,
                               rest_api_timeout_in_ms=rest_api_timeout_in_ms if rest_api_port is not None else 0)
        self.grpc = None
        try:
            if port is not None or grpc_socket_path:
                self.grpc = GrpcServer(self.core, host, port, max_request_bytes, grpc_max_threads,
                                       socket_path=grpc_socket_path, channel_arguments=grpc_channel_arguments,
                                       credentials=grpc_credentials, tensor_content=grpc_tensor_content,
                                       health_check=enable_grpc_healthcheck_service)
            self.rest = RestServer(self.core, host, rest_api_port, max_request_bytes, rest_api_num_threads,
                                   rest_api_timeout_in_ms, rest_api_enable_cors_support, prometheus_path) \
                if rest_api_port is not None else None
        except Exception:
            self.core.stop()
            raise
        self._config_file = model_config_file
        self._config_poll = model_config_file_poll_wait_seconds
        self._stop = threading.Event()
        self._config_thread: threading.Thread | None = None

    @property
    def grpc_port(self) -> int | None:
        return self.grpc.port if self.grpc else None

    @property
    def rest_port(self) -> int | None:
        return self.rest.port if self.rest else None

    def start(self) -> ModelServer:
        if self.grpc:
            self.grpc.start()
        if self.rest:
            self.rest.start()
        if self._config_file and self._config_poll > 0:
            self._config_thread = threading.Thread(target=self._watch_config, name="config-poll", daemon=True)
            self._config_thread.start()
        return self

    def _watch_config(self) -> None:
        last = os.path.getmtime(self._config_file)
        while not self._stop.wait(self._config_poll):
            try:
                mtime = os.path.getmtime(self._config_file)
                if mtime != last:
                    last = mtime
                    self.core.reload_config(config_lib.read_model_config_file(self._config_file))
                    _LOG.info("Reloaded %s", self._config_file)
            except Exception:
                _LOG.exception("reloading %s failed; keeping the current config", self._config_file)

    def stop(self) -> None:
        self._stop.set()
        if self.rest:
            self.rest.stop()
        if self.grpc:
            self.grpc.stop()
        self.core.stop()
        if self._config_thread:
            self._config_thread.join(timeout=5)

    def wait(self) -> None:
        """Blocks until :meth:`stop` (from another thread or a signal handler)."""
        self._stop.wait()

    def __enter__(self) -> ModelServer:  # no typing.Self on Python 3.10
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

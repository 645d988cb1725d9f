"""``zoo serve`` and ``zoo predict``: argparse entry points.

``zoo serve`` takes ``tensorflow_model_server``'s flags, so a command line
(or a ``models.config``) moves between this server and real TF Serving
unchanged. ``zoo predict`` sends a JSON request or tf.Examples to a running
server over REST or gRPC and prints the JSON answer.

Hook-up in the zoo CLI::

    add_serve_parser(subparsers)    # sets func=serve_command
    add_predict_parser(subparsers)  # sets func=predict_command
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import Any

_LOG = logging.getLogger("zoo.serve")


VERSION = "2.16.1"  # the TF Serving release whose flags and behaviour ``zoo serve`` follows
# --batching_skip_below_micros: below a millisecond a run leaves batching little to save on a CPU and a
# batch's hand-offs cost a tenth of it or more (serving/README.md, "Latency and batching").
BATCHING_SKIP_BELOW_MICROS = 1000

_TRUE, _FALSE = {"true", "t", "1", "yes"}, {"false", "f", "0", "no"}


def _bool(text: str) -> bool:
    """A TF flag's boolean (``--flag``, ``--flag=true``, ``--flag=false``)."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


# tensorflow_model_server flags that mean nothing in this server: accepted, with one line saying so.
NO_EFFECT_FLAGS = {
    "enable_per_model_batching_parameters": (_bool, False, "per-model batching_params.pbtxt are not read"),
    "num_load_threads": (int, 0, "versions load on their model's poller thread"),
    "num_unload_threads": (int, 0, "versions unload on their model's poller thread"),
    "max_num_load_retries": (int, 5, "a failed version is retried only when its files change"),
    "load_retry_interval_micros": (int, 60_000_000, "a failed version is retried only when its files change"),
    "flush_filesystem_caches": (_bool, True, "no filesystem caches to flush"),
    "use_alts_credentials": (_bool, False, "ALTS is not supported; use --ssl_config_file"),
    "platform_config_file": (str, "", "only the TensorFlow platform is served"),
    "remove_unused_fields_from_bundle_metagraph": (_bool, True, "the MetaGraph is kept whole"),
    "prefer_tflite_model": (_bool, False, "TensorFlow Lite models are not served"),
    "num_tflite_pools": (int, 0, "TensorFlow Lite models are not served"),
    "num_tflite_interpreters_per_pool": (int, 1, "TensorFlow Lite models are not served"),
    "xla_cpu_compilation_enabled": (_bool, False, "XLA JIT stays as TensorFlow configures it"),
    "enable_profiler": (_bool, True, "no profiler service"),
    "thread_pool_factory_config_file": (str, "", "requests run on the gRPC/REST worker threads"),
    "mixed_precision": (str, "", "models run in the precision they were saved in"),
    "skip_initialize_tpu": (_bool, False, "no TPU"),
}


def _flag(parser: argparse.ArgumentParser, name: str, kind: Any, default: Any, help: str = "") -> None:
    if kind is _bool:  # --flag alone means true, as tensorflow::Flags
        parser.add_argument(f"--{name}", type=_bool, nargs="?", const=True, default=default, help=help)
    else:
        parser.add_argument(f"--{name}", type=kind, default=default, help=help)


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Every flag of TF Serving 2.16.1's ``tensorflow_model_server`` (``model_servers/main.cc``), and ``--host``."""
    cpus = os.cpu_count() or 1
    a = functools.partial(_flag, parser)
    a("port", int, 8500, "gRPC port (0: any free port, or none when --grpc_socket_path is set)")
    a("grpc_socket_path", str, "", "also listen for gRPC on this UNIX socket")
    a("rest_api_port", int, 0, "REST port; 0 disables REST, as in TF Serving")
    a("rest_api_num_threads", int, 4 * cpus, "REST requests processed at once")
    a("rest_api_timeout_in_ms", int, 30000, "session run timeout of a REST request (DEADLINE_EXCEEDED past it)")
    a("rest_api_enable_cors_support", _bool, False, "add CORS headers to REST answers")
    a("enable_batching", _bool, False, "merge concurrent requests into batches")
    a("allow_version_labels_for_unavailable_models", _bool, False)
    a("batching_parameters_file", str, "", "BatchingParameters text proto")
    a("model_config_file", str, "", "ModelServerConfig text proto (several models, policies, labels)")
    a("model_config_file_poll_wait_seconds", float, 0, "re-read --model_config_file this often (0: never)")
    a("model_name", str, "default", "model name when --model_base_path is used")
    a("model_base_path", str, "", "<base>/<version>/saved_model.pb directory of one model")
    a("file_system_poll_wait_seconds", float, 1, "seconds between polls for new versions (<= 0: poll once)")
    a("tensorflow_session_parallelism", int, 0, "threads of each session (sets intra and inter op)")
    a("tensorflow_session_config_file", str, "", "TensorFlow ConfigProto text proto for every session")
    a("tensorflow_intra_op_parallelism", int, 0)
    a("tensorflow_inter_op_parallelism", int, 0)
    a("ssl_config_file", str, "", "SSLConfig text proto: serve gRPC over TLS")
    a("per_process_gpu_memory_fraction", float, 0.0, "GPU memory fraction of each session (0: TF decides)")
    a("saved_model_tags", str, "serve", "comma-separated MetaGraph tags to load")
    a("grpc_channel_arguments", str, "", "gRPC server arguments, e.g. grpc.max_connection_age_ms=2000")
    a("grpc_max_threads", int, 4 * cpus, "gRPC worker threads")
    a("enable_model_warmup", _bool, True, "replay assets.extra/tf_serving_warmup_requests before serving")
    a("num_request_iterations_for_warmup", int, 0, "times each warmup record runs (used when > 0)")
    a("version", _bool, False, "print the version and exit")
    a("enable_grpc_healthcheck_service", _bool, False,
      "serve grpc.health.v1.Health ('', ModelService and PredictionService SERVING)")
    a("monitoring_config_file", str, "", "MonitoringConfig text proto (Prometheus metrics on the REST port)")
    a("enable_signature_method_name_check", _bool, False, "check SignatureDef method names (TF1 behaviour)")
    for name, (kind, default, _) in NO_EFFECT_FLAGS.items():
        a(name, kind, None, f"accepted; no effect here (TF Serving's default: {default})")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback only; not a "
                                                            "TF Serving flag)")
    parser.add_argument("--max_request_bytes", type=int, default=64 << 20,
                        help="largest accepted request body (not a TF Serving flag)")
    parser.add_argument("--grpc_response_tensor_content", type=_bool, nargs="?", const=True, default=False,
                        help="answer Predict with tensor_content instead of typed fields (not a TF Serving flag)")
    parser.add_argument("--eager_batching", type=_bool, nargs="?", const=True, default=True,
                        help="a batch stops waiting for batch_timeout_micros once no other request is being "
                             "decoded (default true; false waits the whole timeout as TF Serving does; "
                             "not a TF Serving flag)")
    parser.add_argument("--batching_skip_below_micros", type=int, default=BATCHING_SKIP_BELOW_MICROS,
                        help="with --enable_batching, a request skips the batch queue (runs at once, as "
                             "unbatched) when a run of its signature at its size has ever taken less than this "
                             "many microseconds: too cheap for a batch to pay (0: always batch, as TF Serving "
                             f"does; default {BATCHING_SKIP_BELOW_MICROS}; not a TF Serving flag)")


class _ServeParser(argparse.ArgumentParser):
    """Leaves unknown arguments in ``args.unknown_arguments``: TF Serving prints them and starts anyway."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        namespace, extras = super().parse_known_args(args, namespace)
        namespace.unknown_arguments = list(getattr(namespace, "unknown_arguments", None) or []) + extras
        return namespace, []


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``serve`` to an argparse subparsers object."""
    parser = subparsers.add_parser("serve", help="run a TF Serving-compatible model server",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                   allow_abbrev=False)
    parser.__class__ = _ServeParser
    _serve_arguments(parser)
    parser.set_defaults(func=serve_command)
    return parser


class StartupError(ValueError):
    """The server cannot start; the message is the one line TF Serving prints."""


def _read_text_proto(path: str, message: Any, type_name: str) -> Any:
    """A text proto file, or StartupError with protobuf's one-line parse message, as TF Serving logs it."""
    from google.protobuf import text_format
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise StartupError(f"NOT_FOUND: {path}; {e.strerror or e}") from None
    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as e:
        detail = str(e)
        if e.GetLine() is not None:
            detail = f"{e.GetLine()}:{e.GetColumn()}: " + detail.split(" : ", 1)[-1]
        raise StartupError(f"Error parsing text-format {type_name}: {detail} "
                           f"(Invalid protobuf file: '{path}')") from None


def _ssl_credentials(path: str) -> Any:
    """gRPC server credentials from TF Serving's ``SSLConfig`` text proto."""
    import grpc
    from google.protobuf import descriptor_pb2, descriptor_pool
    try:
        from google.protobuf.message_factory import GetMessageClass
    except ImportError:  # pragma: no cover
        GetMessageClass = None
    pool = descriptor_pool.DescriptorPool()
    f = descriptor_pb2.FileDescriptorProto(name="zoo_ssl_config.proto", package="tensorflow.serving",
                                           syntax="proto3")
    m = f.message_type.add(name="SSLConfig")
    fd = descriptor_pb2.FieldDescriptorProto
    for number, name in enumerate(("server_key", "server_cert", "custom_ca"), start=1):
        m.field.add(name=name, number=number, type=fd.TYPE_STRING, label=fd.LABEL_OPTIONAL)
    m.field.add(name="client_verify", number=4, type=fd.TYPE_BOOL, label=fd.LABEL_OPTIONAL)
    pool.Add(f)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.SSLConfig")
    if GetMessageClass is not None:
        cls = GetMessageClass(descriptor)
    else:  # pragma: no cover
        from google.protobuf import message_factory
        cls = message_factory.MessageFactory(pool).GetPrototype(descriptor)
    config = _read_text_proto(path, cls(), "tensorflow.serving.SSLConfig")
    return grpc.ssl_server_credentials(
        [(config.server_key.encode(), config.server_cert.encode())],
        root_certificates=config.custom_ca.encode() or None, require_client_auth=config.client_verify)


def session_config_from(args: argparse.Namespace) -> Any:
    """The ``ConfigProto`` of every session: ``--tensorflow_session_config_file``, then the parallelism
    flags and ``--per_process_gpu_memory_fraction`` over it, as TF Serving combines them."""
    import tensorflow as tf

    session_config = tf.compat.v1.ConfigProto()
    if args.tensorflow_session_config_file:
        session_config = _read_text_proto(args.tensorflow_session_config_file, session_config,
                                          "tensorflow.ConfigProto")
    session_config.gpu_options.per_process_gpu_memory_fraction = args.per_process_gpu_memory_fraction
    intra, inter, both = (args.tensorflow_intra_op_parallelism, args.tensorflow_inter_op_parallelism,
                          args.tensorflow_session_parallelism)
    if intra > 0 and inter > 0 and both > 0:
        raise StartupError("INVALID_ARGUMENT: Either configure server_options.tensorflow_session_parallelism "
                           "or (server_options.tensorflow_intra_op_parallelism, "
                           "server_options.tensorflow_inter_op_parallelism). Both configurations are set.")
    if intra or inter:
        session_config.intra_op_parallelism_threads = intra
        session_config.inter_op_parallelism_threads = inter
    elif both:
        session_config.intra_op_parallelism_threads = both
        session_config.inter_op_parallelism_threads = both
    return session_config


def build_server(args: argparse.Namespace) -> Any:
    """The (not yet started) ModelServer that ``args`` describe (StartupError/ValueError if it cannot be)."""

    from serving import batching, grpc_service, monitoring
    from serving import config as config_lib
    from serving.server import ModelServer

    if not args.model_config_file and not args.model_base_path:
        raise StartupError("INVALID_ARGUMENT: Both server_options.model_base_path and "
                           "server_options.model_config_file are empty!")
    if args.model_config_file:  # --model_name/--model_base_path are then ignored, as in TF Serving
        config = _read_text_proto(args.model_config_file, config_lib.ModelServerConfig(),
                                  "tensorflow.serving.ModelServerConfig")
    else:
        config = config_lib.single_model_config(args.model_name, os.path.abspath(args.model_base_path))
    batching_options = None
    if args.enable_batching:
        batching_options = batching.BatchingOptions()
        if args.batching_parameters_file:
            with open(args.batching_parameters_file, encoding="utf-8") as f:
                batching_options = batching.parse_batching_parameters(f.read())
        batching_options = dataclasses.replace(batching_options, eager=args.eager_batching,
                                               skip_below_micros=args.batching_skip_below_micros)
    elif args.batching_parameters_file:
        raise StartupError("INVALID_ARGUMENT: server_options.batching_parameters_file is set without setting "
                           "server_options.enable_batching to true.")
    session_config = session_config_from(args)
    prometheus = None
    if args.monitoring_config_file:
        monitoring_config = _read_text_proto(args.monitoring_config_file, monitoring.MonitoringConfig(),
                                             "tensorflow.serving.MonitoringConfig")
        if monitoring_config.prometheus_config.enable:
            prometheus = monitoring_config.prometheus_config.path or monitoring.DEFAULT_PROMETHEUS_PATH
    rest_port: int | None = args.rest_api_port or None
    if rest_port is not None and rest_port == args.port:
        _LOG.error("server_options.http_port cannot be same as grpc_port. Please use a different port for "
                   "HTTP/REST API. Skipped exporting HTTP/REST API.")
        rest_port = None
    grpc_port: int | None = args.port
    if args.port == 0 and args.grpc_socket_path:
        grpc_port = None  # TF Serving: gRPC only on the socket
    try:
        channel_arguments = grpc_service.parse_channel_arguments(args.grpc_channel_arguments)
    except ValueError as e:
        raise StartupError(f"INVALID_ARGUMENT: {e}") from None
    return ModelServer(
        config, port=grpc_port, rest_api_port=rest_port, host=args.host,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds, batching=batching_options,
        max_request_bytes=args.max_request_bytes,
        allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
        model_config_file=args.model_config_file or None,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        session_config=session_config, grpc_socket_path=args.grpc_socket_path,
        grpc_channel_arguments=channel_arguments, grpc_max_threads=args.grpc_max_threads,
        grpc_credentials=_ssl_credentials(args.ssl_config_file) if args.ssl_config_file else None,
        rest_api_num_threads=args.rest_api_num_threads, rest_api_timeout_in_ms=args.rest_api_timeout_in_ms,
        rest_api_enable_cors_support=args.rest_api_enable_cors_support, prometheus_path=prometheus,
        saved_model_tags=[t for t in args.saved_model_tags.split(",") if t] or ["serve"],
        enable_signature_method_name_check=args.enable_signature_method_name_check,
        enable_model_warmup=args.enable_model_warmup,
        num_request_iterations_for_warmup=args.num_request_iterations_for_warmup,
        grpc_tensor_content=getattr(args, "grpc_response_tensor_content", False),
        enable_grpc_healthcheck_service=args.enable_grpc_healthcheck_service)


def version_text() -> str:
    import tensorflow as tf
    return f"TensorFlow ModelServer: {VERSION}-zoo\nTensorFlow Library: {tf.__version__}"


def serve_command(args: argparse.Namespace, ready: threading.Event | None = None) -> int:
    """Runs the server until SIGINT/SIGTERM (or until ``args.stop`` is set).

    Returns 0 after a clean stop; 255 (TF Serving's ``return -1``) with one
    ``Failed to start server. Error: ...`` line when it cannot start.
    """
    if getattr(args, "version", False):
        print(version_text(), flush=True)
        return 0
    for unknown in getattr(args, "unknown_arguments", None) or []:
        print(f"unknown argument: {unknown}", flush=True)
    for name, (_, _, why) in NO_EFFECT_FLAGS.items():
        if getattr(args, name, None) is not None:
            print(f"--{name} is accepted for compatibility with tensorflow_model_server but has no effect "
                  f"here: {why}", flush=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        server = build_server(args).start()
    except (StartupError, ValueError, OSError) as e:
        message = " ".join(str(e).split())
        print(f"Failed to start server. Error: {message}", file=sys.stderr, flush=True)
        return 255
    where = []
    if server.grpc_port:
        where.append(f"gRPC on {args.host}:{server.grpc_port}")
    if args.grpc_socket_path:
        where.append(f"gRPC on unix:{args.grpc_socket_path}")
    if server.rest_port:
        where.append(f"REST on {args.host}:{server.rest_port}")
    print(f"Serving {', '.join(server.core.model_names)}: {', '.join(where)}", flush=True)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: server._stop.set())
    stop = getattr(args, "stop", None)
    if ready is not None:
        ready.set()
    try:
        if stop is not None:
            stop.wait()
        else:
            server.wait()
    finally:
        server.stop()
    return 0


def parse_serve_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """``zoo serve``'s command line, parsed (exits 2 with TF Serving's usage on a bad one)."""
    parser = _ServeParser(prog="zoo serve", description=__doc__, allow_abbrev=False,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    _serve_arguments(parser)
    return parser.parse_args(argv)


def serve_main(argv: Sequence[str] | None = None) -> int:
    return serve_command(parse_serve_args(argv))


def _predict_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--model_name", required=True)
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--server", default="http://127.0.0.1:8501", help="REST base URL")
    target.add_argument("--grpc", default="", help="gRPC target host:port (uses gRPC instead of REST)")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--model_version", type=int, default=None)
    choice.add_argument("--version_label", default=None)
    a("--signature_name", default="", help="signature (default serving_default)")
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument("--json", help="request JSON file ('-' = stdin): a TF Serving predict body "
                                     "(instances or inputs) or a list of instances")
    data.add_argument("--examples", help="TFRecord file(s) of tf.Example (glob; .gz = GZIP) sent to "
                                         "an examples-input signature")
    a("--max_examples", type=int, default=16)
    a("--timeout", type=float, default=30.0)


def add_predict_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``predict`` to an argparse subparsers object."""
    parser = subparsers.add_parser("predict", help="send a request to a model server")
    _predict_arguments(parser)
    parser.set_defaults(func=predict_command)
    return parser


def read_examples(pattern: str, limit: int) -> list[bytes]:
    """Up to ``limit`` serialized records from TFRecord files matching ``pattern``."""
    from serving.records import read_files
    return read_files(pattern, limit, error=ValueError(f"no files match --examples {pattern!r}"))


def _request_body(args: argparse.Namespace) -> dict[str, Any]:
    from serving.rest_client import b64
    if args.examples:
        return {"instances": [b64(e) for e in read_examples(args.examples, args.max_examples)]}
    if args.json == "-":
        text = sys.stdin.read()
    else:
        with open(args.json, encoding="utf-8") as f:
            text = f.read()
    body = json.loads(text)
    return {"instances": body} if isinstance(body, list) else body


def predict_command(args: argparse.Namespace, out: Any = None) -> int:
    """Sends one predict request; prints the JSON answer (errors to stderr, exit 1)."""
    from serving import errors, rest_client  # no TensorFlow
    out = out or sys.stdout
    body = _request_body(args)
    if args.signature_name:
        body["signature_name"] = args.signature_name
    try:
        if args.grpc:
            result = _predict_grpc(args, body)
        else:
            rest = rest_client.RestClient(args.server, timeout=args.timeout)
            path = rest_client.model_path(args.model_name, args.model_version, args.version_label)
            result = rest.call("POST", path + ":predict", body)
    except (rest_client.RestError, errors.ServingError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # connection refused, timeout, unknown host: one line, not a traceback
        print(f"error: cannot reach {args.grpc or args.server}: {e}", file=sys.stderr)
        return 1
    json.dump(result, out, indent=1)
    out.write("\n")
    return 0


def _predict_grpc(args: argparse.Namespace, body: dict[str, Any]) -> dict[str, Any]:
    """gRPC Predict of a REST-style body: JSON decoded with the signature's dtypes from metadata."""
    from serving import client as client_lib
    from serving import json_codec
    grpc_client = client_lib.GrpcClient(args.grpc, timeout=args.timeout)
    try:
        sig_map = grpc_client.metadata(args.model_name, args.model_version, args.version_label)

        def infos(name: str) -> Any:
            key = name or "serving_default"
            if key not in sig_map.signature_def:
                raise ValueError(f"unknown signature {key!r}; choices: {sorted(sig_map.signature_def)}")
            return dict(sig_map.signature_def[key].inputs)

        inputs, fmt = json_codec.decode_predict(body, infos)
        outputs = grpc_client.predict(args.model_name, inputs, body.get("signature_name", ""),
                                      args.model_version, args.version_label)
        return json_codec.encode_predict(outputs, fmt)
    finally:
        grpc_client.close()


def predict_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zoo predict")
    _predict_arguments(parser)
    return predict_command(parser.parse_args(argv))


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m serving.cli serve|predict ...``"""
    parser = argparse.ArgumentParser(prog="python -m serving.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_parser(sub)
    add_predict_parser(sub)
    args = parser.parse_args(list(argv) if argv is not None else None)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

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
import json
import logging
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import Any

_LOG = logging.getLogger("zoo.serve")


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--port", type=int, default=8500, help="gRPC port (0: any free port)")
    a("--rest_api_port", type=int, default=0, help="REST port; 0 disables REST, as in TF Serving")
    a("--host", default="127.0.0.1", help="address to bind (default loopback only)")
    a("--model_name", default="default", help="model name when --model_base_path is used")
    a("--model_base_path", default="", help="<base>/<version>/saved_model.pb directory of one model")
    a("--model_config_file", default="", help="ModelServerConfig text proto (several models, policies, labels)")
    a("--model_config_file_poll_wait_seconds", type=float, default=0,
      help="re-read --model_config_file this often (0: never)")
    a("--file_system_poll_wait_seconds", type=float, default=1,
      help="seconds between polls for new versions (<= 0: poll once)")
    a("--enable_batching", action="store_true", help="merge concurrent requests into batches")
    a("--batching_parameters_file", default="", help="BatchingParameters text proto")
    a("--allow_version_labels_for_unavailable_models", action="store_true")
    a("--max_request_bytes", type=int, default=64 << 20, help="largest accepted request body")
    a("--tensorflow_intra_op_parallelism", type=int, default=0)
    a("--tensorflow_inter_op_parallelism", type=int, default=0)


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``serve`` to an argparse subparsers object."""
    parser = subparsers.add_parser("serve", help="run a TF Serving-compatible model server",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _serve_arguments(parser)
    parser.set_defaults(func=serve_command)
    return parser


def build_server(args: argparse.Namespace) -> Any:
    """The (not yet started) ModelServer that ``args`` describe."""
    import tensorflow as tf

    from serving import batching
    from serving import config as config_lib
    from serving.server import ModelServer

    if bool(args.model_config_file) == bool(args.model_base_path):
        raise ValueError("pass exactly one of --model_config_file or --model_base_path")
    if args.model_config_file:
        config = config_lib.read_model_config_file(args.model_config_file)
    else:
        import os
        config = config_lib.single_model_config(args.model_name, os.path.abspath(args.model_base_path))
    batching_options = None
    if args.enable_batching:
        batching_options = batching.BatchingOptions()
        if args.batching_parameters_file:
            with open(args.batching_parameters_file, encoding="utf-8") as f:
                batching_options = batching.parse_batching_parameters(f.read())
    elif args.batching_parameters_file:
        raise ValueError("--batching_parameters_file needs --enable_batching")
    session_config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=args.tensorflow_intra_op_parallelism,
        inter_op_parallelism_threads=args.tensorflow_inter_op_parallelism)
    return ModelServer(
        config, port=args.port, rest_api_port=args.rest_api_port or None, host=args.host,
        file_system_poll_wait_seconds=args.file_system_poll_wait_seconds, batching=batching_options,
        max_request_bytes=args.max_request_bytes,
        allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models,
        model_config_file=args.model_config_file or None,
        model_config_file_poll_wait_seconds=args.model_config_file_poll_wait_seconds,
        session_config=session_config)


def serve_command(args: argparse.Namespace, ready: threading.Event | None = None) -> int:
    """Runs the server until SIGINT/SIGTERM (or until ``args.stop`` is set)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = build_server(args).start()
    print(f"Serving {', '.join(server.core.model_names)}: gRPC on {args.host}:{server.grpc_port}"
          + (f", REST on {args.host}:{server.rest_port}" if server.rest_port else ""), flush=True)
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


def serve_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zoo serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _serve_arguments(parser)
    return serve_command(parser.parse_args(argv))


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

"""``zoo serve`` / ``zoo predict`` entry points."""

from __future__ import annotations

import argparse
import io
import json
import os
import threading

import numpy as np
import pytest
import tensorflow as tf

from serving import cli
from tests.fixtures import toy_model


@pytest.fixture(scope="module")
def examples_file(tmp_path_factory, images):
    path = str(tmp_path_factory.mktemp("eval") / "data.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for image in images:
            writer.write(toy_model.make_example(image))
    return path


def _predict(argv):
    parser = argparse.ArgumentParser()
    cli.add_predict_parser(parser.add_subparsers()).prog = "predict"
    args = parser.parse_args(["predict", *argv])
    out = io.StringIO()
    assert args.func(args, out=out) == 0
    return json.loads(out.getvalue())


def test_predict_examples_over_rest_and_grpc(server, examples_file, images):
    want = toy_model.toy_predict(images, 1)
    for target in (["--server", f"http://127.0.0.1:{server.rest_port}"], ["--grpc", f"127.0.0.1:{server.grpc_port}"]):
        body = _predict([*target, "--model_name", "all", "--version_label", "stable", "--examples", examples_file])
        np.testing.assert_allclose([r["probabilities"] for r in body["predictions"]], want, atol=1e-5)


def test_predict_json_file(server, tmp_path, images):
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"signature_name": "predict_raw", "inputs": {"image": images.tolist()}}))
    for target in (["--server", f"http://127.0.0.1:{server.rest_port}"], ["--grpc", f"127.0.0.1:{server.grpc_port}"]):
        body = _predict([*target, "--model_name", "all", "--model_version", "2", "--json", str(request)])
        np.testing.assert_allclose(body["outputs"]["probabilities"], toy_model.toy_predict(images, 2), atol=1e-5)


def test_predict_to_an_unreachable_server_fails_in_one_line(tmp_path, capsys):
    import socket
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": [[0.0] * 64]}))
    parser = argparse.ArgumentParser()
    cli.add_predict_parser(parser.add_subparsers())
    for target in (["--server", f"http://127.0.0.1:{port}"], ["--grpc", f"127.0.0.1:{port}"]):
        args = parser.parse_args(["predict", *target, "--model_name", "toy", "--json", str(request),
                                  "--timeout", "5"])
        assert args.func(args, out=io.StringIO()) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and "\n" not in err, err


def test_serve_command_runs_from_a_config_file_with_batching(toy_base, tmp_path, images):
    config = tmp_path / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "toy" base_path: "{toy_base}" '
                      f'model_platform: "tensorflow" }} }}')
    params = tmp_path / "batching.config"
    params.write_text("max_batch_size { value: 4 } batch_timeout_micros { value: 1000 }")
    parser = argparse.ArgumentParser()
    cli.add_serve_parser(parser.add_subparsers())
    argv = ["serve", "--port", "0", "--model_config_file", str(config), "--enable_batching",
            "--batching_parameters_file", str(params), "--file_system_poll_wait_seconds", "0"]
    args = parser.parse_args(argv)
    server = cli.build_server(args)
    assert server.core.batcher.options.max_batch_size == 4
    assert server.core.batcher.options.eager  # --eager_batching defaults to true
    tf_timing = cli.build_server(parser.parse_args([*argv, "--eager_batching=false"]))
    assert tf_timing.core.batcher.options.eager is False
    assert server.core.batcher.options.skip_below_micros == cli.BATCHING_SKIP_BELOW_MICROS > 0
    always = cli.build_server(parser.parse_args([*argv, "--batching_skip_below_micros", "0"]))
    assert always.core.batcher.options.skip_below_micros == 0  # always batch, as TF Serving
    tf_timing.stop()
    with server:
        from serving.client import GrpcClient
        client = GrpcClient(f"127.0.0.1:{server.grpc_port}")
        out = client.predict("toy", {"image": images}, "predict_raw")
        np.testing.assert_allclose(out["probabilities"], toy_model.toy_predict(images, 3), atol=1e-5)
        client.close()
    with pytest.raises(ValueError, match="model_config_file are empty"):
        cli.build_server(parser.parse_args(["serve"]))


def test_serve_command_stops_on_request(toy_base):
    parser = argparse.ArgumentParser()
    cli.add_serve_parser(parser.add_subparsers())
    args = parser.parse_args(["serve", "--port", "0", "--rest_api_port", "0", "--model_name", "toy",
                              "--model_base_path", toy_base, "--file_system_poll_wait_seconds", "0"])
    assert args.rest_api_port == 0  # 0 disables REST, as in tensorflow_model_server
    args.stop = threading.Event()
    ready = threading.Event()
    result = []
    thread = threading.Thread(target=lambda: result.append(cli.serve_command(args, ready)))
    thread.start()
    assert ready.wait(120)
    args.stop.set()
    thread.join(60)
    assert result == [0]
    assert os.path.isdir(toy_base)

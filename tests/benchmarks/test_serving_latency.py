"""The figures of benchmarks/serving_latency.py: repeats, medians, paired ratios and the goals' verdicts."""

from __future__ import annotations

import argparse
import os
import sys

import pytest

sys.path.append(os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))  # transport_floor, as a script
from benchmarks import serving_latency as sl


def _bench(rows: list[sl.Cell]) -> sl.Bench:
    bench = sl.Bench.__new__(sl.Bench)  # the figures only: no model, no requests
    bench.args = argparse.Namespace(batch_timeout_micros=2000)
    bench.rows = rows
    return bench


def _cell(path: str, mode: str, concurrency: int, p50: float, rps: float, repeat: int) -> sl.Cell:
    return sl.Cell(path, mode, concurrency, p50, p50 * 2, rps, 1.0, repeat)


def test_find_is_the_median_over_repeats_and_paired_keeps_repeats_together():
    bench = _bench([_cell("gRPC", "unbatched", 32, 10.0, 100.0, 0), _cell("gRPC", "batched", 32, 5.0, 250.0, 0),
                    _cell("gRPC", "unbatched", 32, 12.0, 300.0, 1), _cell("gRPC", "batched", 32, 6.0, 330.0, 1),
                    _cell("gRPC", "unbatched", 32, 11.0, 200.0, 2)])  # repeat 2's batched server never ran
    unbatched = bench.find("gRPC", "unbatched", 32)
    assert (unbatched.p50, unbatched.rps, unbatched.repeat) == (11.0, 200.0, -1)
    assert bench.find("gRPC", "batched", 1) is None
    # each repeat's batched over the same repeat's unbatched, not a ratio of medians (290 / 200)
    assert bench.paired("gRPC", "unbatched", "batched", 32, lambda u, b: b.rps / u.rps) == [2.5, 1.1]


def test_verdict_counts_the_repeats_that_meet_the_goal():
    assert sl.verdict([2.5, 1.1], lambda x: x >= 2, "{:.2f}x") == \
        "median 1.80x (repeats: 2.50x, 1.10x; goal met in 1 of 2)"
    assert sl.verdict([1.4], lambda x: x <= 1) == "1.40 (goal NOT met)"


def test_report_judges_each_goal_on_the_repeats(capsys: pytest.CaptureFixture[str]):
    rows = []
    for repeat, (grpc_p50, unbatched_rps, batched_rps) in enumerate([(1.2, 100.0, 250.0), (1.5, 100.0, 150.0),
                                                                      (1.3, 100.0, 210.0)]):
        rows += [_cell("gRPC", "unbatched", 1, grpc_p50, 500.0, repeat),
                 _cell("gRPC", "batched", 1, grpc_p50 + 0.1, 480.0, repeat),
                 _cell("gRPC", "unbatched", 32, 30.0, unbatched_rps, repeat),
                 _cell("gRPC", "batched", 32, 15.0, batched_rps, repeat)]
    sl._report(_bench(rows), floor_ms=0.4, batch_row_ms=0.1, top=32, title="t", throughput_goal=2.0)
    out = capsys.readouterr().out
    assert "minus the in-process floor 0.40 ms: median +0.90 ms (repeats: +0.80 ms, +1.10 ms, +0.90 ms; " \
           "goal met in 2 of 3)" in out
    assert "batched/unbatched: median 2.10x (repeats: 2.50x, 1.50x, 2.10x; goal met in 2 of 3) (goal: >= 2.0x)" in out
    assert "added by batching at concurrency 1: median +0.10 ms" in out and "goal met in 3 of 3" in out


def test_rows_per_batch_reads_the_batch_schedulers_stop_line(caplog):
    import logging

    import numpy as np

    from serving import batching

    class Doubler:
        def run_unbatched(self, key, inputs, outputs, timeout_ms=0, deadline=None):
            return {"y": inputs["x"] * 2}

    scheduler = batching.BatchScheduler(batching.BatchingOptions(max_batch_size=8, skip_below_micros=60_000_000))
    servable = Doubler()
    for _ in range(3):  # the first run is timed and batched alone; the next two skip the queue
        scheduler.run(servable, "sig", {"x": np.ones((1, 1))}, ("y",))
    with caplog.at_level(logging.INFO, logger="serving.batching"):
        scheduler.stop()
    assert sl._rows_per_batch(caplog.text) == "1 batches, 1.00 rows per batch; 2 requests skipped the queue"
    assert sl._rows_per_batch("batching: 4 batches, 2.50 rows per batch") == "4 batches, 2.50 rows per batch"


def test_grpc_handler_call_answers_as_zoo_serve_would(tmp_path):
    import numpy as np
    from tensorflow_serving.apis import predict_pb2

    from serving.client import GrpcClient
    from tests.fixtures import toy_model

    base = str(tmp_path / "digits")
    toy_model.write_toy_model(base, 1)
    images = np.arange(2 * 64).reshape(2, 64) % 17
    request = GrpcClient.predict_request("digits", {"image": images}, "predict_raw").SerializeToString()
    core, call = sl.grpc_handler_call("digits", base, None, request)
    try:
        answer = predict_pb2.PredictResponse.FromString(call())
    finally:
        core.stop()
    assert answer.model_spec.name == "digits" and answer.model_spec.version.value == 1
    probabilities = np.array(answer.outputs["probabilities"].float_val).reshape(2, 10)
    np.testing.assert_allclose(probabilities, toy_model.toy_predict(images, 1), rtol=1e-5)


def test_busy_floor_holds_the_cpu_then_answers_the_fixed_bytes():
    import time

    import grpc
    import transport_floor

    start = time.perf_counter()
    transport_floor.busy(5000)
    assert time.perf_counter() - start >= 0.005
    server, port = transport_floor.grpc_floor_server(b"answer", busy_micros=5000)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert channel.unary_unary(transport_floor.PREDICT_METHOD)(b"request", timeout=10) == b"answer"
    finally:
        server.stop(0)


def test_report_sets_zoo_serve_beside_the_busy_floor(capsys: pytest.CaptureFixture[str]):
    rows = [_cell(sl.HANDLER, "-", 1, 0.25, 4000.0, 0), _cell(sl.HANDLER_PACED, "-", 1, 0.4, 600.0, 0),
            _cell("gRPC", "unbatched", 1, 1.3, 700.0, 0), _cell("gRPC floor", "busy", 1, 1.05, 900.0, 0)]
    sl._report(_bench(rows), floor_ms=0.15, batch_row_ms=0.03, top=1, title="t", throughput_goal=0.95)
    out = capsys.readouterr().out
    assert "without gRPC: 0.40 ms called 1 ms apart (back to back: 0.25 ms)" in out
    assert "gRPC: the floor server holding the CPU 0.40 ms per call, doing no work: 1.05 ms; zoo serve: 1.30 ms" in out
    assert "REST: the floor server" not in out  # no REST cells: no line

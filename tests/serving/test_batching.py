"""Server-side batching: merging, splitting, isolation of a bad request."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from serving import batching
from serving import config as config_lib
from serving.client import RestClient, b64
from serving.server import ModelServer
from tests.fixtures import toy_model


def test_parse_batching_parameters_file_format():
    options = batching.parse_batching_parameters("""
        max_batch_size { value: 16 }
        batch_timeout_micros { value: 2000 }
        num_batch_threads { value: 2 }
        allowed_batch_sizes: 8
        allowed_batch_sizes: 16
        pad_variable_length_inputs: false
    """)
    assert (options.max_batch_size, options.batch_timeout_micros, options.num_batch_threads,
            options.allowed_batch_sizes) == (16, 2000, 2, (8, 16))
    assert batching.parse_batching_parameters(batching.batching_parameters_text(options)) == options
    with pytest.raises(ValueError, match="allowed_batch_sizes"):
        batching.BatchingOptions(max_batch_size=16, allowed_batch_sizes=(8,))


@pytest.fixture(scope="module")
def batched_server(toy_base):
    # eager=False: TF Serving's timing (a batch waits out its timeout), so concurrent requests surely merge
    options = batching.BatchingOptions(max_batch_size=8, batch_timeout_micros=200_000, num_batch_threads=1,
                                       allowed_batch_sizes=(4, 8), eager=False)
    with ModelServer(config_lib.single_model_config("toy", toy_base), port=None,
                     file_system_poll_wait_seconds=0, batching=options) as srv:
        yield srv


def _concurrently(n, fn):
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_requests_are_merged_and_split_back(batched_server, images):
    rest = RestClient(f"http://127.0.0.1:{batched_server.rest_port}")
    batcher = batched_server.core.batcher
    before = len(batcher.batch_sizes)
    batches_before, rows_before = batcher.executed_batches, batcher.executed_rows
    results = _concurrently(4, lambda i: rest.predict("toy", instances=images[i:i + 1].tolist(),
                                                      signature_name="predict_raw"))
    for i, body in enumerate(results):
        got = np.array(body["predictions"][0]["probabilities"])
        np.testing.assert_allclose(got, toy_model.toy_predict(images[i:i + 1], 3)[0], atol=1e-5)
    sizes = batcher.batch_sizes[before:]
    assert sum(sizes) == 4 and max(sizes) > 1  # at least two requests shared a session run
    assert (batcher.executed_batches - batches_before, batcher.executed_rows - rows_before) == (len(sizes), 4)


def test_a_bad_request_in_a_batch_fails_alone(batched_server, images):
    rest = RestClient(f"http://127.0.0.1:{batched_server.rest_port}")

    def call(i):
        example = b"garbage" if i == 0 else toy_model.make_example(images[i])
        return rest.request("POST", "/v1/models/toy:predict", {"instances": [b64(example)]})

    results = _concurrently(4, call)
    assert results[0][0] == 400
    for i in range(1, 4):
        status, body = results[i]
        assert status == 200
        np.testing.assert_allclose(body["predictions"][0]["probabilities"],
                                   toy_model.toy_predict(images[i:i + 1], 3)[0], atol=1e-5)


class _RecordingServable:
    """Stands in for a Servable: records the rows and limits of every session run."""

    def __init__(self):
        self.runs = []

    def run_unbatched(self, key, inputs, outputs, timeout_ms=0, deadline=None):
        self.runs.append((inputs["x"][:, 0].tolist(), timeout_ms, deadline))
        return {"y": inputs["x"] * 2}


def test_a_request_past_its_deadline_is_dropped_from_its_batch():
    import time

    scheduler = batching.BatchScheduler(batching.BatchingOptions(max_batch_size=8, batch_timeout_micros=300_000,
                                                                 num_batch_threads=1, eager=False))
    servable = _RecordingServable()
    now = time.monotonic()
    limits = {0: (0, now + 0.05), 1: (0, now + 30.0), 2: (0, None)}  # 0 expires while the batch waits

    def call(i):
        timeout_ms, deadline = limits[i]
        return scheduler.run(servable, "sig", {"x": np.full((1, 1), float(i))}, ("y",), timeout_ms, deadline)

    results = _concurrently(3, call)
    assert isinstance(results[0], batching.errors.ServingError)
    assert results[0].code == batching.errors.grpc.StatusCode.DEADLINE_EXCEEDED
    assert [r["y"][0, 0] for r in results[1:]] == [2.0, 4.0]
    (rows, timeout_ms, deadline), = servable.runs  # one merged run, without the expired request
    assert sorted(rows) == [1.0, 2.0] and (timeout_ms, deadline) == (0, None)  # one request has no deadline


def test_a_batch_runs_under_its_latest_deadline():
    import time

    scheduler = batching.BatchScheduler(batching.BatchingOptions(max_batch_size=2, batch_timeout_micros=1_000_000,
                                                                 eager=False))
    servable = _RecordingServable()
    deadlines = [time.monotonic() + 20, time.monotonic() + 40]
    _concurrently(2, lambda i: scheduler.run(servable, "sig", {"x": np.full((1, 1), 1.0)}, ("y",), 0,
                                             deadlines[i]))
    assert [(sorted(rows), d) for rows, _, d in servable.runs] == [([1.0, 1.0], deadlines[1])]


def _in_thread(fn):
    """Starts ``fn`` in a thread; returns (thread, result list)."""
    result = []
    thread = threading.Thread(target=lambda: result.append(fn()))
    thread.start()
    return thread, result


def test_an_eager_batch_runs_a_lone_request_without_waiting_out_its_timeout():
    scheduler = batching.BatchScheduler(batching.BatchingOptions(max_batch_size=8, batch_timeout_micros=60_000_000))
    servable = _RecordingServable()

    def lone():
        with scheduler.arriving():
            return scheduler.run(servable, "sig", {"x": np.full((1, 1), 3.0)}, ("y",))

    thread, result = _in_thread(lone)
    thread.join(20)  # the timeout is 60 s: only an eager batch is done by now
    assert not thread.is_alive() and result[0]["y"][0, 0] == 6.0
    assert [rows for rows, _, _ in servable.runs] == [[3.0]]
    assert scheduler.arriving_requests == 0


def test_an_eager_batch_waits_for_a_request_still_being_decoded():
    scheduler = batching.BatchScheduler(batching.BatchingOptions(max_batch_size=8, batch_timeout_micros=60_000_000))
    servable = _RecordingServable()
    decoding, decoded, leader_waits = threading.Event(), threading.Event(), threading.Event()

    def late():  # a request whose front is still decoding it when the batch opens
        with scheduler.arriving():
            decoding.set()
            decoded.wait(20)
            return scheduler.run(servable, "sig", {"x": np.full((1, 1), 2.0)}, ("y",))

    def leader():
        with scheduler.arriving():
            leader_waits.set()
            return scheduler.run(servable, "sig", {"x": np.full((1, 1), 1.0)}, ("y",))

    late_thread, late_result = _in_thread(late)
    decoding.wait(20)
    leader_thread, leader_result = _in_thread(leader)
    leader_waits.wait(20)
    leader_thread.join(0.5)
    assert leader_thread.is_alive() and servable.runs == []  # it waits for the request on its way
    decoded.set()
    for thread in (late_thread, leader_thread):
        thread.join(20)
        assert not thread.is_alive()
    assert [sorted(rows) for rows, _, _ in servable.runs] == [[1.0, 2.0]]  # one merged run
    assert (leader_result[0]["y"][0, 0], late_result[0]["y"][0, 0]) == (2.0, 4.0)


def test_a_request_that_never_reaches_the_batcher_releases_an_eager_batch():
    scheduler = batching.BatchScheduler(batching.BatchingOptions(max_batch_size=8, batch_timeout_micros=60_000_000))
    servable = _RecordingServable()
    decoding, fail = threading.Event(), threading.Event()

    def refused():  # e.g. a malformed request: its front answers 400 before any run
        with scheduler.arriving():
            decoding.set()
            fail.wait(20)

    def lone():
        with scheduler.arriving():
            return scheduler.run(servable, "sig", {"x": np.full((1, 1), 1.0)}, ("y",))

    refused_thread, _ = _in_thread(refused)
    decoding.wait(20)
    thread, result = _in_thread(lone)
    thread.join(0.5)
    assert thread.is_alive()
    fail.set()
    thread.join(20)
    refused_thread.join(20)
    assert not thread.is_alive() and result[0]["y"][0, 0] == 2.0 and scheduler.arriving_requests == 0


class _TimedServable(_RecordingServable):
    """A _RecordingServable whose runs take ``seconds`` each."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds

    def run_unbatched(self, key, inputs, outputs, timeout_ms=0, deadline=None):
        import time
        time.sleep(self.seconds)
        return super().run_unbatched(key, inputs, outputs, timeout_ms, deadline)


def _tf_timing_scheduler(skip_below_micros):
    # eager=False and a long timeout: without the skip rule, concurrent requests surely merge
    return batching.BatchScheduler(batching.BatchingOptions(
        max_batch_size=8, batch_timeout_micros=300_000, num_batch_threads=1, eager=False,
        skip_below_micros=skip_below_micros))


def test_requests_of_a_cheap_size_skip_the_queue_and_other_sizes_still_merge():
    scheduler = _tf_timing_scheduler(skip_below_micros=60_000_000)  # every run counts as cheap
    servable = _RecordingServable()

    def call(rows):
        return lambda i: scheduler.run(servable, "sig", {"x": np.full((rows, 1), float(i))}, ("y",))

    scheduler.run(servable, "sig", {"x": np.zeros((1, 1))}, ("y",))  # the first 1-row run: timed, not skipped
    assert scheduler.skipped_requests == 0
    results = _concurrently(4, call(1))
    assert [r["y"][0, 0] for r in results] == [0.0, 2.0, 4.0, 6.0]
    assert scheduler.skipped_requests == 4
    assert sorted(rows for rows, _, _ in servable.runs[1:]) == [[0.0], [1.0], [2.0], [3.0]]  # 4 lone runs
    before = len(servable.runs)
    _concurrently(3, call(2))  # 2-row requests have never run: they are batched as usual
    assert len(servable.runs) == before + 1 and sorted(servable.runs[-1][0]) == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
    assert scheduler.skipped_requests == 4


def test_requests_of_a_costly_signature_are_batched():
    scheduler = _tf_timing_scheduler(skip_below_micros=1_000)  # 1 ms, under the 20 ms a run takes
    servable = _TimedServable(0.02)
    scheduler.run(servable, "sig", {"x": np.zeros((1, 1))}, ("y",))
    _concurrently(4, lambda i: scheduler.run(servable, "sig", {"x": np.full((1, 1), float(i))}, ("y",)))
    assert scheduler.skipped_requests == 0
    assert len(servable.runs) == 2 and sorted(servable.runs[-1][0]) == [0.0, 1.0, 2.0, 3.0]


def test_the_skip_rule_is_off_at_zero_and_forgets_an_unloaded_servable():
    import gc

    scheduler = _tf_timing_scheduler(skip_below_micros=0)  # TF Serving's behaviour: always batch
    servable = _RecordingServable()
    scheduler.run(servable, "sig", {"x": np.zeros((1, 1))}, ("y",))
    _concurrently(3, lambda i: scheduler.run(servable, "sig", {"x": np.full((1, 1), float(i))}, ("y",)))
    assert scheduler.skipped_requests == 0 and len(servable.runs) == 2

    timed = _tf_timing_scheduler(skip_below_micros=60_000_000)
    gone = _RecordingServable()
    timed.run(gone, "sig", {"x": np.zeros((1, 1))}, ("y",))
    assert len(timed._fastest) == 1
    del gone
    gc.collect()
    assert len(timed._fastest) == 0  # a version that was unloaded leaves no timings behind

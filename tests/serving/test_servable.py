"""Servable's session runs: per-call RunOptions (timeouts, deadlines) and the caller-thread choice."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from serving.errors import ServingError
from serving.servable import Servable
from tests.fixtures import toy_model


@pytest.fixture(scope="module")
def version_path(toy_base):
    return os.path.join(toy_base, "1")


def test_caller_thread_and_pool_runs_give_the_same_answers(version_path, images):
    expected = toy_model.toy_predict(images, 1)
    always = Servable("toy", 1, version_path, caller_thread_max_ms=1e9)
    never = Servable("toy", 1, version_path, caller_thread_max_ms=0)
    for servable, caller in ((always, True), (never, False)):
        assert not servable._use_caller_thread("predict_raw")  # no run measured yet: TF's pool
        for timeout_ms in (0, 30000):
            _, out = servable.run("predict_raw", {"image": images}, timeout_ms=timeout_ms)
            np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
        assert servable._use_caller_thread("predict_raw") is caller
        _, out = servable.run("predict_raw", {"image": images}, deadline=time.monotonic() + 30)
        np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
        servable.close()


def test_an_explicit_inter_op_setting_turns_the_caller_thread_off(version_path, images):
    import tensorflow as tf

    config = tf.compat.v1.ConfigProto(inter_op_parallelism_threads=2)
    servable = Servable("toy", 1, version_path, session_config=config, caller_thread_max_ms=1e9)
    servable.run("predict_raw", {"image": images})
    assert not servable._use_caller_thread("predict_raw")
    servable.close()


def test_a_passed_deadline_is_deadline_exceeded_without_a_run(version_path, images):
    servable = Servable("toy", 1, version_path)
    with pytest.raises(ServingError) as err:
        servable.run("predict_raw", {"image": images}, deadline=time.monotonic() - 0.001)
    assert err.value.code.name == "DEADLINE_EXCEEDED"
    assert servable._cost == {}  # nothing ran
    servable.close()

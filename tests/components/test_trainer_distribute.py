"""The Trainer's distribution strategy (components/trainer/distribute.py): chosen by custom_config or
ZOO_DISTRIBUTION; a model built in the mirrored scope has mirrored variables and trains with fit;
multi_worker checks TF_CONFIG and refuses Keras 3's fit in one line (keras-team/keras#20585)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from components.trainer import distribute


def test_the_config_wins_over_the_environment_and_none_is_the_default():
    assert distribute.strategy_name({}, environ={}) == "none"
    assert distribute.strategy_name({}, environ={distribute.ENV: "mirrored"}) == "mirrored"
    assert distribute.strategy_name({"distribution": "multi_worker"}, environ={distribute.ENV: "mirrored"}) \
        == "multi_worker"


def test_default_scope_changes_nothing(monkeypatch):
    monkeypatch.delenv(distribute.ENV, raising=False)
    with distribute.distribution_scope({}) as strategy:
        assert strategy is None


def test_a_model_built_in_the_mirrored_scope_is_mirrored_and_trains():
    import keras
    import tensorflow as tf

    with distribute.distribution_scope({"distribution": "mirrored"}) as strategy:
        assert isinstance(strategy, tf.distribute.MirroredStrategy)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile(optimizer="sgd", loss="mse")
        x = np.random.default_rng(0).random((32, 4)).astype("float32")
        before = model.layers[0].kernel.numpy().copy()
        history = model.fit(x, x[:, :3], batch_size=8, epochs=1, verbose=0)
    assert isinstance(model.layers[0].kernel.value, tf.distribute.DistributedValues)
    assert strategy.num_replicas_in_sync >= 1
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(model.layers[0].kernel.numpy(), before)


@pytest.mark.parametrize("tf_config, message", [
    (None, "needs TF_CONFIG"),
    ("not json", "bad TF_CONFIG"),
    (json.dumps({"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}), "host:port"),
    (json.dumps({"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "worker", "index": 1}}),
     "is not one of the 1 workers"),
])
def test_bad_tf_config_is_a_one_line_error(tf_config, message):
    with pytest.raises(ValueError, match=message) as error:
        distribute.check_tf_config(tf_config)
    assert "\n" not in str(error.value)


def test_multi_worker_with_keras_3_fit_is_refused_in_one_line(monkeypatch):
    import keras

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:2222"]},
                                                "task": {"type": "worker", "index": 0}}))
    if not keras.__version__.startswith("3."):
        pytest.skip("the refusal is for Keras 3")
    with pytest.raises(ValueError, match="keras-team/keras#20585"):
        with distribute.distribution_scope({"distribution": "multi_worker"}):
            pass

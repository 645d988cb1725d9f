"""The echo state network (reservoir, closed-form ridge readout) and the LSTM forecaster on tiny series."""

from __future__ import annotations

import numpy as np
import pytest

WINDOW, HORIZON = 24, 4


def _spec(window: int = WINDOW):
    from models.base import DataSpec, FeatureInfo

    return DataSpec({"window": FeatureInfo((window,), "float32"), "offset": FeatureInfo((1,), "float32"),
                     "scale": FeatureInfo((1,), "float32")}, "future")


def _sine_windows(count: int, start: int = 0, period: float = 17.0, window: int = WINDOW, horizon: int = HORIZON,
                  second_wave: float = 0.5):
    """Windows of ``sin(2 pi t / period)`` plus ``second_wave`` times a slower sine, and their futures."""
    t = np.arange(start, start + count + window + horizon)
    values = np.sin(2 * np.pi * t / period) + second_wave * np.sin(2 * np.pi * t / (period * 2.7))
    past = np.stack([values[i:i + window] for i in range(count)]).astype(np.float32)
    future = np.stack([values[i + window:i + window + horizon] for i in range(count)]).astype(np.float32)
    return past, future


def _dataset(past, future, batch_size: int = 64):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(({"window": past}, future)).batch(batch_size)


@pytest.mark.parametrize("radius", [0.5, 0.95, 1.3])
def test_reservoir_has_the_requested_spectral_radius_and_sparsity(radius):
    import keras

    from models.layers.reservoir import Reservoir

    layer = Reservoir(120, spectral_radius=radius, sparsity=0.9, seed=3)
    layer(keras.ops.ones((1, 2, 1)))
    weights = np.asarray(keras.ops.convert_to_numpy(layer.recurrent_kernel), np.float64)
    assert np.max(np.abs(np.linalg.eigvals(weights))) == pytest.approx(radius, rel=1e-5)
    assert 0.85 < np.mean(weights == 0) < 0.95
    assert layer.trainable_weights == []


def test_reservoir_follows_the_leaky_update():
    import keras

    from models.layers.reservoir import Reservoir

    layer = Reservoir(10, spectral_radius=0.9, leak_rate=0.3, bias_scaling=0.5, sparsity=0.5, seed=0,
                      return_sequences=True)
    inputs = np.random.default_rng(0).normal(size=(2, 6, 1)).astype(np.float32)
    states = np.asarray(keras.ops.convert_to_numpy(layer(inputs)))
    w_in, w, b = (np.asarray(keras.ops.convert_to_numpy(v)) for v in
                  (layer.input_kernel, layer.recurrent_kernel, layer.bias))
    x = np.zeros((2, 10))
    for t in range(6):
        x = 0.7 * x + 0.3 * np.tanh(inputs[:, t] @ w_in + x @ w + b)
        np.testing.assert_allclose(states[:, t], x, atol=1e-5)


@pytest.mark.parametrize("train_on, rows_per_window", [("every_step", WINDOW - 5), ("last_step", 1)])
def test_readout_solves_the_ridge_problem(train_on, rows_per_window):
    from models import registry
    from models.esn import Esn, training_rows

    family = registry.get("esn")
    hp = family.hparams({"units": 40, "horizon": HORIZON, "washout": 5, "ridge": 0.3, "train_on": train_on})
    past, future = _sine_windows(150)
    model = family.build(hp, _spec())
    history = family.train(model, hp, _dataset(past, future), None)

    states, inputs = (np.asarray(t, np.float64) for t in Esn.collector(model).predict_on_batch({"window": past}))
    rows, targets = training_rows(states, inputs, past.astype(np.float64), future.astype(np.float64),
                                  HORIZON, 5, last_only=train_on == "last_step")
    assert rows.shape == (150 * rows_per_window, 41) and history["readout_rows"] == [len(rows)]
    # Ridge as an augmented least-squares problem: [Z 1; sqrt(l) I 0] w = [Y; 0] (bias unpenalised).
    design = np.concatenate([rows, np.ones((len(rows), 1))], axis=1)
    penalty = np.sqrt(0.3) * np.eye(42)[:41]
    solution = np.linalg.lstsq(np.concatenate([design, penalty]),
                               np.concatenate([targets, np.zeros((41, HORIZON))]), rcond=None)[0]
    kernel, bias = model.get_layer("readout").get_weights()
    np.testing.assert_allclose(kernel, solution[:-1], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(bias, solution[-1], rtol=1e-3, atol=1e-4)
    # Only the readout is trained: the reservoir is what it was built as.
    assert {w.name for w in model.trainable_weights} == {"kernel", "bias"}


@pytest.mark.parametrize("second_wave, bound", [(0.0, 1e-3), (0.5, 1e-2)])
def test_esn_forecasts_a_sine_wave_almost_perfectly(second_wave, bound):
    from models import registry

    family = registry.get("esn")
    hp = family.hparams({"units": 100, "horizon": HORIZON, "input_scaling": 0.1, "ridge": 1e-8})
    past, future = _sine_windows(300, second_wave=second_wave)
    model = family.build(hp, _spec())
    history = family.train(model, hp, _dataset(past, future), None)
    test_past, test_future = _sine_windows(100, start=1000, second_wave=second_wave)  # unseen phases
    prediction = model.predict_on_batch({"window": test_past})
    nrmse = np.sqrt(np.mean((prediction - test_future) ** 2)) / np.std(test_future)
    assert nrmse < bound, nrmse
    assert history["loss"][0] < bound ** 2


def test_forecast_signature_denormalises():
    from models import registry

    family = registry.get("esn")
    hp = family.hparams({"units": 20, "horizon": HORIZON})
    model = family.build(hp, _spec())
    past, future = _sine_windows(40)
    family.train(model, hp, _dataset(past, future), None)
    forecast = family.signatures(model, hp, _spec())["forecast"].fn
    features = {"window": past, "offset": np.full((40, 1), 3.0, np.float32),
                "scale": np.full((40, 1), 2.0, np.float32)}
    out = np.asarray(forecast(features)["forecast"])
    np.testing.assert_allclose(out, 2.0 * model.predict_on_batch({"window": past}) + 3.0, rtol=1e-5, atol=1e-5)


def test_lstm_forecaster_loss_goes_down():
    from models import registry

    family = registry.get("lstm_forecaster")
    hp = family.hparams({"units": 16, "depth": 2, "horizon": HORIZON, "epochs": 6, "batch_size": 16,
                         "learning_rate": 1e-2, "lr_schedule": "none"})
    past, future = _sine_windows(256)
    model = family.build(hp, _spec())
    history = family.train(model, hp, _dataset(past, future, 32), None)
    assert len(history["loss"]) == 6
    assert history["loss"][-1] < 0.5 * history["loss"][0], history["loss"]


@pytest.mark.parametrize("overrides, message", [
    ({"leak_rate": 0.0}, "leak_rate"),
    ({"sparsity": 1.0}, "sparsity"),
    ({"spectral_radius": -1.0}, "spectral_radius"),
    ({"ridge": -1.0}, "ridge"),
    ({"train_on": "middle"}, "train_on"),
])
def test_bad_hyperparameters_are_one_line_errors(overrides, message):
    from models import registry

    with pytest.raises(ValueError, match=message):
        registry.get("esn").hparams(overrides)


def test_washout_must_be_shorter_than_the_window():
    from models import registry

    family = registry.get("esn")
    with pytest.raises(ValueError, match="washout"):
        family.build(family.hparams({"washout": WINDOW}), _spec())

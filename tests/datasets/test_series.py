"""The forecasting series: Mackey-Glass solves its delay equation, the sunspots split is chronological."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from datasets import series


def test_mackey_glass_satisfies_its_delay_equation():
    # The integrator's own grid (dt = 0.1, every step kept): the central difference of the
    # series must equal the right-hand side with x(t - 17) read 170 steps back.
    dt, delay = series.MG_DT, round(series.TAU / series.MG_DT)
    x = series.mackey_glass(length=6000, sample_every=1, transient=100.0)
    t = np.arange(delay + 1, len(x) - 1)
    derivative = (x[t + 1] - x[t - 1]) / (2 * dt)
    rate = series.mackey_glass_rate(x[t], x[t - delay])
    assert np.max(np.abs(derivative - rate)) < 1e-3, np.max(np.abs(derivative - rate))
    assert np.std(rate) > 0.02  # the check is not trivially met by a flat series
    # With the wrong delay the equation does not hold: the check can fail.
    wrong = series.mackey_glass_rate(x[t], x[t - delay + 20])
    assert np.max(np.abs(derivative - wrong)) > 1e-2


def test_mackey_glass_is_chaotic_not_periodic():
    x = series.mackey_glass()
    assert x.shape == (series.MG_LENGTH,)
    assert 0.2 < x.min() < 0.6 and 1.1 < x.max() < 1.5
    # Two starts 1e-6 apart end up far apart (sensitivity to initial conditions).
    y = series.mackey_glass(x0=series.MG_X0 + 1e-6)
    assert np.max(np.abs(x[:50] - y[:50])) < 1e-3 and np.max(np.abs(x[-500:] - y[-500:])) > 0.1


def test_sunspots_come_from_statsmodels_and_split_chronologically():
    values = series.sunspots()
    assert len(values) == 309 and values[0] == 5.0  # 1700-2008, as statsmodels ships them
    split = series.chronological_split(values)
    cut = int(len(values) * series.TRAIN_FRACTION)
    train, test = split["train"], split["test"]
    assert max(e["origin"] for e in train) + series.HORIZON <= cut <= min(e["origin"] for e in test)
    assert [e["origin"] for e in test] == list(range(cut, len(values) - series.HORIZON + 1))
    for e in train + test:
        t = e["origin"]
        np.testing.assert_array_equal(e[series.PAST], values[t - series.WINDOW:t].astype(np.float32))
        np.testing.assert_array_equal(e[series.FUTURE], values[t:t + series.HORIZON].astype(np.float32))


def test_registering_the_builders_imports_no_model_code():
    """The window and horizon come from the contract (models.features.series), which imports no family."""
    code = "import sys, datasets.series; print(sorted(m for m in sys.modules if m.startswith(('models', 'keras'))))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True)
    loaded = result.stdout.strip().splitlines()[-1]
    assert "'models.features.series'" in loaded
    assert "keras" not in loaded and "models.registry" not in loaded and "models.base" not in loaded, loaded


def test_too_short_or_broken_series_are_clear_errors():
    with pytest.raises(ValueError, match="too short"):
        series.chronological_split(np.arange(30.0))
    with pytest.raises(ValueError, match="finite"):
        series.chronological_split(np.array([1.0, np.nan] * 100))


def test_tfds_builders_write_the_windows(tmp_path):
    import tensorflow_datasets as tfds

    builder = tfds.builder("sunspots", data_dir=str(tmp_path))
    builder.download_and_prepare()
    assert {name: info.num_examples for name, info in builder.info.splits.items()} == {"train": 208, "test": 55}
    # TFDS shuffles the order; the windows themselves are exactly those of the chronological split.
    split = series.chronological_split(series.sunspots())
    for name in ("train", "test"):
        written = sorted((tuple(e["past"]), tuple(e["future"]))
                         for e in tfds.as_numpy(builder.as_dataset(split=name)))
        assert written == sorted((tuple(e[series.PAST]), tuple(e[series.FUTURE])) for e in split[name])

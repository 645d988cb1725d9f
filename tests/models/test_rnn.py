"""The stacked recurrent classifier family (models/rnn.py) and its recurrent layers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import models.rnn  # noqa: F401  (registers 'rnn')
from models import registry
from models.base import DataSpec, FeatureInfo
from models.layers.recurrent import StackedRNN, fused_kernel_blockers

VOCAB = 30


def spec(length: int = 12, num_classes: int = 3) -> DataSpec:
    return DataSpec({"text_ids": FeatureInfo((length,), "int64")}, "label", num_classes,
                    extras={"vocab_sizes": {"text": VOCAB}})


def build(length: int = 12, **overrides: object) -> keras.Model:
    keras.utils.set_random_seed(1)
    family = registry.get("rnn")
    hp = family.hparams({"units": 6, "embedding_dim": 5, "dropout": 0.0, **overrides})
    return family.build(hp, spec(length))


def padded(tokens: list[int], length: int, where: str = "end") -> np.ndarray:
    pad = [0] * (length - len(tokens))
    row = {"end": tokens + pad, "start": pad + tokens,
           "middle": tokens[:1] + pad + tokens[1:]}[where]
    return np.array([row], "int64")


def predict(model: keras.Model, ids: np.ndarray) -> np.ndarray:
    return keras.ops.convert_to_numpy(model({"text_ids": ids}, training=False))


@pytest.mark.parametrize("overrides,width", [
    ({"cell": "lstm", "bidirectional": True, "merge_mode": "concat"}, 12),
    ({"cell": "gru", "bidirectional": True, "merge_mode": "sum", "depth": 2}, 6),
    ({"cell": "simple_rnn", "bidirectional": False, "depth": 3}, 6),
])
def test_builds_probabilities_of_each_cell(overrides: dict, width: int) -> None:
    model = build(**overrides)
    out = predict(model, np.random.default_rng(0).integers(1, VOCAB, (4, 12)))
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    assert model.get_layer("recurrent").compute_output_shape((None, 12, 5)) == (None, width)
    assert len(model.get_layer("recurrent").rnns) == overrides.get("depth", 1)


@pytest.mark.parametrize("overrides", [
    {"cell": "lstm", "bidirectional": True, "depth": 2},
    {"cell": "gru", "bidirectional": False},
    {"cell": "simple_rnn", "bidirectional": True, "merge_mode": "ave"},
])
def test_padding_changes_nothing(overrides: dict) -> None:
    model = build(12, **overrides)
    tokens = [4, 9, 17, 2, 25]
    reference = predict(model, padded(tokens, 12))
    for where in ("start", "middle"):
        np.testing.assert_allclose(predict(model, padded(tokens, 12, where)), reference, atol=1e-6)
    # The same weights on a longer fixed length (more padding) give the same prediction.
    longer = build(20, **overrides)
    longer.set_weights(model.get_weights())
    np.testing.assert_allclose(predict(longer, padded(tokens, 20)), reference, atol=1e-6)
    # ... while a real token does change it (the check above is not vacuous).
    assert not np.allclose(predict(model, padded([4, 9, 18, 2, 25], 12)), reference, atol=1e-6)


def test_empty_sequence_gives_a_finite_prediction() -> None:
    out = predict(build(cell="lstm"), np.zeros((2, 12), "int64"))
    assert np.isfinite(out).all() and out.shape == (2, 3)


def test_learns_an_order_dependent_rule() -> None:
    # Label: does token 3 come before token 4? Same bag of tokens for both classes.
    rng = np.random.default_rng(0)
    ids = rng.integers(5, VOCAB, (256, 10))
    labels = rng.integers(0, 2, 256)
    for row, label in zip(ids, labels):
        i, j = sorted(rng.choice(10, 2, replace=False))
        row[i], row[j] = (3, 4) if label else (4, 3)
    model = build(10, cell="gru", units=16, learning_rate=1e-2)
    history = model.fit({"text_ids": ids}, labels, epochs=12, batch_size=32, verbose=0)
    assert history.history["sparse_categorical_accuracy"][-1] > 0.9


def test_mixed_precision_keeps_float32_probabilities() -> None:
    model = build(cell="gru", precision="mixed_float16")
    assert model.get_layer("embedding").compute_dtype == "float16"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    ids = np.random.default_rng(0).integers(1, VOCAB, (8, 12))
    out = predict(model, ids)
    assert out.dtype == np.float32 and np.isfinite(out).all()
    model.fit({"text_ids": ids}, np.arange(8) % 3, epochs=1, verbose=0)


def test_vocabulary_size_comes_from_the_transform_or_override() -> None:
    family = registry.get("rnn")
    with pytest.raises(ValueError, match="no vocabulary 'words'"):
        family.build(family.hparams({"vocab_name": "words"}), spec())
    model = family.build(family.hparams({"vocab_name": "words", "vocab_size": 7, "units": 4}), spec())
    assert model.get_layer("embedding").input_dim == 7


@pytest.mark.parametrize("overrides,message", [
    ({"cell": "transformer"}, "cell must be one of"),
    ({"merge_mode": "max"}, "merge_mode must be one of"),
    ({"depth": 0}, "depth must be at least 1"),
    ({"precision": "float8"}, "precision must be one of"),
    ({"text_feature": "tokens"}, "no feature 'tokens'"),
])
def test_bad_settings_raise_clear_errors(overrides: dict, message: str) -> None:
    family = registry.get("rnn")
    with pytest.raises(ValueError, match=message):
        family.build(family.hparams(overrides), spec())


def test_fused_kernel_blockers_name_each_setting() -> None:
    assert fused_kernel_blockers("gru") == []
    assert fused_kernel_blockers("lstm", unroll=True, use_bias=False) == ["unroll=True", "use_bias=False"]
    assert fused_kernel_blockers("simple_rnn") == ["cell=simple_rnn"]
    layer = StackedRNN("lstm", 4, recurrent_dropout=0.3, bidirectional=False)
    assert layer.rnns[0].recurrent_dropout == 0.3
    assert StackedRNN("lstm", 4).rnns[0].forward_layer.recurrent_dropout == 0.0  # off by default


def test_stacked_rnn_config_round_trips() -> None:
    layer = StackedRNN("gru", 5, depth=2, merge_mode="sum", return_sequences=True)
    clone = StackedRNN.from_config(layer.get_config())
    assert (clone.cell, clone.units, clone.depth, clone.merge_mode, clone.return_sequences) == \
        ("gru", 5, 2, "sum", True)
    assert tuple(clone(keras.ops.ones((2, 7, 3))).shape) == (2, 7, 5)

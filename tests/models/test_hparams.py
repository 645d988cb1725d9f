"""The shared hyperparameters (models/hparams.py) and what the base families own
(models/base.py): validation, per-family defaults, the classifier preamble, schedules."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from models import registry
from models.base import ClassifierFamily, CosineDecay, DataSpec, FeatureInfo, GenerativeFamily, cosine_factor
from models.hparams import HParams, ImageHParams

IMAGE = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "epochs must be a positive integer"),
    ("epochs", 2.5, "epochs must be a positive integer"),
    ("batch_size", -1, "batch_size must be a positive integer"),
    ("learning_rate", 0.0, "learning_rate must be a finite number > 0"),
    ("learning_rate", float("nan"), "learning_rate must be a finite number > 0"),
    ("lr_schedule", "step", "lr_schedule must be one of"),
    ("steps_per_epoch", 0, "steps_per_epoch must be a positive integer"),
    ("seed", "7", "seed must be an integer"),
    ("precision", "float16", "precision must be one of"),
    ("clipnorm", -1.0, "clipnorm must be a finite number > 0"),
    ("jit_compile", "yes", "jit_compile must be true or false"),
])
def test_shared_hyperparameters_are_checked(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HParams(**{field: value})
    # ... in every family, through the registry as pipelines reach them.
    with pytest.raises(ValueError, match=message):
        registry.get("vae").hparams({field: value})


def test_construction_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        HParams(3)  # type: ignore[misc]
    assert HParams(steps_per_epoch=None, lr_schedule="cosine").lr_schedule == "cosine"


def test_every_family_extends_the_base_and_keeps_its_defaults() -> None:
    defaults = {  # (epochs, batch_size, learning_rate, lr_schedule, clipnorm): the measured figures' settings
        "cnn": (15, 64, 2e-3, "cosine", None), "rnn": (10, 64, 3e-3, None, 1.0),
        "seq2seq": (10, 64, 3e-3, None, 1.0), "dbn": (60, 32, 3e-3, None, None),
        "vae": (60, 64, 2e-3, None, None), "autoencoder": (40, 64, 2e-3, None, None),
        "gan": (150, 64, 2e-4, None, None), "conditional_gan": (150, 64, 2e-4, None, None),
        "vanilla_gan": (150, 64, 1e-3, None, None),
        "aae": (100, 64, 1e-3, None, None), "realnvp": (100, 64, 1e-3, None, 100.0),
        "lapgan": (150, 64, 1e-3, None, None), "srgan": (5, 16, 1e-4, "cosine", None),
        "esn": (1, 256, 1e-3, None, None), "lstm_forecaster": (40, 32, 3e-3, "cosine", 1.0),
        "recursive_nn": (20, 64, 3e-3, None, 1.0),
        "bert_pretraining": (5, 32, 3e-4, None, 1.0), "bert_classifier": (5, 32, 2e-4, None, 1.0),
    }
    assert set(defaults) == set(registry.names())
    for name, expected in defaults.items():
        family = registry.get(name)
        assert issubclass(family.hparams_cls, HParams)
        assert dataclasses.fields(family.hparams_cls)[0].kw_only
        hp = family.hparams()
        assert (hp.epochs, hp.batch_size, hp.learning_rate, hp.lr_schedule, hp.clipnorm) == expected, name
        assert (hp.seed, hp.precision, hp.steps_per_epoch) == (0, "float32", None)
    assert registry.get("gan").hparams().rates() == (2e-4, 2e-4)


def test_overrides_unknown_names_and_none() -> None:
    family = registry.get("cnn")
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) \['epoch'\].*known: .*'epochs'"):
        family.hparams({"epoch": 3})
    hp = family.hparams({"lr_schedule": "None", "steps_per_epoch": "none", "epochs": 2})
    assert (hp.lr_schedule, hp.steps_per_epoch, hp.epochs) == (None, None, 2)


def test_a_family_rejects_a_precision_it_cannot_train_in() -> None:
    with pytest.raises(ValueError, match="model 'vae' trains in precision"):
        registry.get("vae").hparams({"precision": "mixed_float16"})
    assert registry.get("rnn").hparams({"precision": "mixed_bfloat16"}).precision == "mixed_bfloat16"


def test_registry_rejects_hyperparameters_that_do_not_extend_the_base() -> None:
    @dataclasses.dataclass
    class Loose:
        epochs: int = 1

    class Bad(ClassifierFamily):
        name = "bad_hparams"
        hparams_cls = Loose

    with pytest.raises(ValueError, match="must be a dataclass extending models.hparams.HParams"):
        registry.register(Bad)


# --- what ClassifierFamily owns -------------------------------------------------------------

@pytest.mark.parametrize("name", ["cnn", "dbn", "rnn"])
def test_classifiers_need_labels(name: str) -> None:
    family = registry.get(name)
    with pytest.raises(ValueError, match=f"the '{name}' classifier needs labelled data"):
        family.build(family.hparams(), DataSpec(IMAGE.features))


@pytest.mark.parametrize("name", ["cnn", "dbn"])
def test_classifiers_compile_from_hparams_and_name_missing_inputs(name: str) -> None:
    family = registry.get(name)
    hp = family.hparams({"learning_rate": 0.01, "clipnorm": 2.0,
                         **({"hidden_units": (8,)} if name == "dbn" else {"filters": (4,)})})
    model = family.build(hp, IMAGE)
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert model.optimizer.clipnorm == 2.0
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    assert model.loss == "sparse_categorical_crossentropy"
    with pytest.raises(ValueError, match=r"no feature 'pixels' in the data; features: \['image'\]"):
        family.build(family.hparams({"image_key": "pixels"}), IMAGE)


def test_cnn_inputs_follow_the_data_and_mixed_precision_keeps_float32_probabilities() -> None:
    family = registry.get("cnn")
    flat = DataSpec({"image": FeatureInfo((8, 8), "float32")}, "label", 3)
    model = family.build(family.hparams({"filters": (4,), "dense_units": 4}), flat)
    assert tuple(model.inputs[0].shape) == (None, 8, 8)
    assert model({"image": np.zeros((2, 8, 8), "float32")}).shape == (2, 3)
    mixed = family.build(family.hparams({"filters": (4,), "precision": "mixed_float16"}), IMAGE)
    assert isinstance(mixed.optimizer, keras.optimizers.LossScaleOptimizer)
    assert any(layer.compute_dtype == "float16" for layer in mixed.layers)
    out = keras.ops.convert_to_numpy(mixed({"image": np.random.default_rng(0).random((4, 8, 8, 1), "float32")}))
    assert out.dtype == np.float32 and np.allclose(out.sum(-1), 1.0, atol=1e-3)


def test_generative_families_share_one_build() -> None:
    for name in ("vae", "autoencoder", "gan", "conditional_gan"):
        family = registry.get(name)
        assert isinstance(family, GenerativeFamily) and issubclass(family.hparams_cls, ImageHParams)
        model = family.build(family.hparams({"learning_rate": 0.01}), IMAGE)
        assert model.weights  # created by build
    gan = registry.get("gan")
    model = gan.build(gan.hparams({"learning_rate": 0.01, "g_learning_rate": 0.5}), IMAGE)
    assert (float(model.d_optimizer.learning_rate), float(model.g_optimizer.learning_rate)) == \
        pytest.approx((0.01, 0.5))


# --- the schedule ---------------------------------------------------------------------------

def test_cosine_schedule_drives_every_optimizer_of_the_family() -> None:
    """The GAN's two optimizers follow the cosine schedule (not an unused default optimizer)."""
    family = registry.get("gan")
    hp = family.hparams({"latent_dim": 4, "generator_filters": (8, 4), "discriminator_filters": (4, 8),
                         "epochs": 3, "lr_schedule": "cosine", "learning_rate": 0.01, "g_learning_rate": 0.02})
    model = family.build(hp, IMAGE)
    images = np.random.default_rng(0).random((8, 8, 8, 1)).astype("float32")
    history = family.train(model, hp, tf.data.Dataset.from_tensor_slices({"image": images}).batch(8), None)
    expected = [cosine_factor(epoch, 3) for epoch in range(3)]
    np.testing.assert_allclose(history["d_learning_rate"], [0.01 * f for f in expected], rtol=1e-6)
    np.testing.assert_allclose(history["g_learning_rate"], [0.02 * f for f in expected], rtol=1e-6)


def test_cosine_schedule_of_a_single_optimizer_logs_learning_rate() -> None:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    history = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0,
                        callbacks=[CosineDecay(2, {"learning_rate": (None, 0.1)})]).history
    np.testing.assert_allclose(history["learning_rate"], [0.1, 0.05], rtol=1e-6)


def test_families_xla_cannot_compile_refuse_jit_compile_in_one_line() -> None:
    """recursive_nn and seq2seq (TensorArrays of data-dependent size) and srgan (bicubic resize on CPU)
    fail inside XLA at their first step: they are refused when their hyperparameters are made."""
    for name in ("recursive_nn", "seq2seq", "srgan"):
        family = registry.get(name)
        with pytest.raises(ValueError, match=f"model '{name}' cannot train with jit_compile=True"):
            family.hparams({"jit_compile": True})
        assert family.hparams({}).jit_compile is False
    assert registry.get("cnn").hparams({"jit_compile": True}).jit_compile is True

"""The vanilla GAN: MLP generator and discriminator on the DCGAN's training step."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from models import gan, registry
from models.base import GENERATE, GENERATIVE, DataSpec, FeatureInfo

DATA = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")})


@pytest.fixture(scope="module")
def real() -> np.ndarray:
    return (load_digits().images[:256] / 16.0).astype(np.float32)[..., None]


def _build(**overrides):
    family = registry.get("vanilla_gan")
    hp = family.hparams({"latent_dim": 8, "hidden_units": (32, 64), "seed": 0, **overrides})
    return family, hp, family.build(hp, DATA)


def test_registered_as_a_gan_with_a_generate_signature():
    family, hp, model = _build()
    assert isinstance(family, gan.Gan) and family.task == GENERATIVE
    assert family.signature_roles == {"generate": GENERATE}
    signature = family.signatures(model, hp, DATA)["generate"]
    assert signature.input_signature == {"z": ((None, 8), "float32")}
    images = np.asarray(signature.fn({"z": np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)})["image"])
    assert images.shape == (5, 8, 8, 1) and images.min() >= 0.0 and images.max() <= 1.0
    assert tuple(model.discriminate(images).shape) == (5, 1)


def test_networks_are_mlps_and_the_training_step_is_the_dcgans():
    _, _, vanilla = _build()
    dcgan_family = registry.get("gan")
    dcgan = dcgan_family.build(dcgan_family.hparams({"latent_dim": 8}), DATA)
    layers = {type(layer) for net in (vanilla.generator, vanilla.discriminator) for layer in net.layers}
    assert layers <= {keras.layers.Dense, keras.layers.Reshape, keras.layers.Flatten, keras.layers.Dropout}
    assert [layer.units for layer in vanilla.generator.layers if isinstance(layer, keras.layers.Dense)] == [32, 64, 64]
    assert [layer.units for layer in vanilla.discriminator.layers
            if isinstance(layer, keras.layers.Dense)] == [64, 32, 1]
    assert any(isinstance(layer, keras.layers.Conv2D) for layer in dcgan.discriminator._flatten_layers())
    for step in ("train_step", "test_step", "discriminator_loss", "generator_loss"):
        assert getattr(type(vanilla), step) is getattr(type(dcgan), step) is getattr(gan.GenerativeAdversarialNetwork,
                                                                                       step)


def test_bad_hparams_rejected():
    with pytest.raises(ValueError, match="hidden_units"):
        registry.get("vanilla_gan").hparams({"hidden_units": ()})
    with pytest.raises(ValueError, match="dropout"):
        registry.get("vanilla_gan").hparams({"dropout": 1.0})


def _losses(model, real: np.ndarray) -> tuple[float, float]:
    """d_loss on the fixed real batch and fixed latents; g_loss on the same latents (no dropout)."""
    z = keras.random.normal((len(real), model.latent_dim), seed=123)
    fake_logits = model.discriminate(model.generate(z, training=False), training=False)
    d_loss = model.discriminator_loss(model.discriminate(real, training=False), fake_logits)
    return float(d_loss), float(model.generator_loss(fake_logits))


def _train_only(model, net: str, real: np.ndarray, steps: int = 30) -> None:
    """The shared train_step with the other network's optimizer set to a zero learning rate."""
    other = model.g_optimizer if net == "discriminator" else model.d_optimizer
    other.learning_rate = 0.0
    frozen = [np.array(w) for w in getattr(model, "generator" if net == "discriminator" else "discriminator").weights]
    ds = tf.data.Dataset.from_tensor_slices({"image": real}).batch(64).repeat()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    now = getattr(model, "generator" if net == "discriminator" else "discriminator").weights
    assert all(np.allclose(a, np.array(b)) for a, b in zip(frozen, now))


def test_discriminator_loss_falls_when_only_the_discriminator_trains(real):
    keras.utils.set_random_seed(0)
    _, _, model = _build(learning_rate=1e-3)
    d_before, g_before = _losses(model, real)
    _train_only(model, "discriminator", real)
    d_after, g_after = _losses(model, real)
    assert d_after < d_before - 0.2, (d_before, d_after)
    assert g_after > g_before  # the fixed generator now fools D less


def test_generator_loss_falls_when_only_the_generator_trains(real):
    keras.utils.set_random_seed(0)
    _, _, model = _build(learning_rate=1e-3)
    _train_only(model, "discriminator", real)  # first a D that tells real from fake
    model.g_optimizer.learning_rate, model.d_optimizer.learning_rate = 1e-3, 0.0
    _, g_before = _losses(model, real)
    _train_only(model, "generator", real)
    _, g_after = _losses(model, real)
    assert g_after < g_before - 0.2, (g_before, g_after)

"""LAPGAN (Laplacian pyramid of GANs on digits) and SRGAN (super-resolution), on tiny tensors."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from models import gan, registry
from models.base import GENERATE, GENERATIVE, SUPER_RESOLUTION, UPSCALE, DataSpec, FeatureInfo
from models.layers.laplacian_pyramid import laplacian_pyramid, reconstruct
from models.layers.super_resolution import ICNR, PixelShuffle, ResidualBlock

DIGITS = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)
PATCHES = DataSpec({"high_res": FeatureInfo((16, 16, 3), "float32"), "low_res": FeatureInfo((8, 8, 3), "float32")})


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return (load_digits().images[:128] / 16.0).astype(np.float32)[..., None]


def _pixel_shuffle_reference(x: np.ndarray, r: int) -> np.ndarray:
    """out[b, h*r + i, w*r + j, c] = in[b, h, w, (i*r + j)*C + c], element by element."""
    batch, height, width, channels = x.shape
    out_channels = channels // (r * r)
    out = np.zeros((batch, height * r, width * r, out_channels), x.dtype)
    for b in range(batch):
        for h in range(height):
            for w in range(width):
                for i in range(r):
                    for j in range(r):
                        for c in range(out_channels):
                            out[b, h * r + i, w * r + j, c] = x[b, h, w, (i * r + j) * out_channels + c]
    return out


# --- layers -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("r, shape", [(2, (2, 3, 5, 12)), (3, (1, 2, 3, 18)), (2, (1, 1, 1, 4))])
def test_pixel_shuffle_matches_a_numpy_reference(r, shape):
    x = np.random.default_rng(r).normal(size=shape).astype(np.float32)
    got = keras.ops.convert_to_numpy(PixelShuffle(r)(x))
    np.testing.assert_array_equal(got, _pixel_shuffle_reference(x, r))
    np.testing.assert_array_equal(got, tf.nn.depth_to_space(x, r).numpy())


def test_pixel_shuffle_and_residual_block_refuse_bad_channels_and_round_trip_their_config():
    with pytest.raises(ValueError, match="divisible by 4"):
        PixelShuffle(2)(np.zeros((1, 2, 2, 6), np.float32))
    with pytest.raises(ValueError, match="factor"):
        PixelShuffle(0)
    with pytest.raises(ValueError, match="input channels"):
        ResidualBlock(4)(np.zeros((1, 3, 3, 5), np.float32))
    block = ResidualBlock(4, kernel_size=5, batch_norm=True)
    assert ResidualBlock.from_config(block.get_config()).get_config() == block.get_config()
    assert PixelShuffle.from_config(PixelShuffle(3).get_config()).factor == 3


def test_icnr_makes_a_fresh_pixel_shuffle_nearest_neighbour_upsampling():
    conv = keras.layers.Conv2D(8, 3, padding="same", kernel_initializer=ICNR(2))
    x = np.random.default_rng(0).normal(size=(1, 5, 7, 4)).astype(np.float32)
    y = keras.ops.convert_to_numpy(PixelShuffle(2)(conv(x)))
    assert y.shape == (1, 10, 14, 2) and y.std() > 0
    for i, j in [(0, 1), (1, 0), (1, 1)]:
        np.testing.assert_allclose(y[:, i::2, j::2], y[:, ::2, ::2], atol=1e-6)
    with pytest.raises(ValueError, match="divisible by 4"):
        ICNR(2)((3, 3, 4, 6))
    assert ICNR.from_config(ICNR(3).get_config()).factor == 3


def test_laplacian_pyramid_is_exactly_invertible_and_its_bands_have_the_level_sizes(digits):
    pyramid = laplacian_pyramid(digits[:4], 3)
    assert [tuple(p.shape[1:3]) for p in pyramid] == [(2, 2), (4, 4), (8, 8)]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reconstruct(pyramid)), digits[:4], atol=1e-5)
    # the bands are residuals: the finer ones average to about zero
    assert abs(float(np.mean(keras.ops.convert_to_numpy(pyramid[2])))) < 0.05


# --- SRGAN ------------------------------------------------------------------------------------------------


def _srgan(**overrides):
    family = registry.get("srgan")
    hp = family.hparams({"filters": 8, "residual_blocks": 2, "discriminator_filters": (8,), "seed": 0,
                         **overrides})
    data = PATCHES
    if hp.factor == 4:
        data = DataSpec({"high_res": FeatureInfo((16, 16, 3), "float32"),
                         "low_res": FeatureInfo((4, 4, 3), "float32")})
    return family, hp, family.build(hp, data), data


@pytest.mark.parametrize("factor", [2, 4])
def test_srgan_upscales_any_odd_size_by_its_factor(factor):
    family, hp, model, data = _srgan(factor=factor)
    assert family.task == SUPER_RESOLUTION and family.signature_roles == {"upscale": UPSCALE}
    signature = family.signatures(model, hp, data)["upscale"]
    assert signature.input_signature == {"image": ((None, None, None, 3), "float32")}
    # the served function, traced once with unknown height and width, as the exporter does
    fn = tf.function(lambda image: signature.fn({"image": image}),
                     input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    for height, width in [(5, 7), (3, 9), (1, 1), (11, 4)]:
        low = np.random.default_rng(height).random((2, height, width, 3)).astype(np.float32)
        image = fn(tf.constant(low))["image"].numpy()
        assert image.shape == (2, height * factor, width * factor, 3)
        assert image.min() >= 0.0 and image.max() <= 1.0


def test_a_fresh_srgan_with_the_bicubic_skip_is_bicubic_upsampling():
    _, _, model, _ = _srgan()
    low = np.random.default_rng(0).random((2, 5, 7, 3)).astype(np.float32)
    want = tf.image.resize(low, (10, 14), method="bicubic").numpy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.upscale(low)), want, atol=1e-5)


def _patch_batch(n: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    # smooth random fields (a low-frequency pattern) so the low-resolution patch predicts the high one
    coarse = rng.random((n, 4, 4, 3)).astype(np.float32)
    high = tf.image.resize(coarse, (16, 16), method="bicubic").numpy().clip(0, 1)
    low = tf.image.resize(high, (8, 8), method="bicubic", antialias=True).numpy()
    return {"high_res": high, "low_res": low}


def _content_loss(model, batch) -> float:
    return float(model.content_loss(batch["high_res"], model.upscale(batch["low_res"], training=False)))


@pytest.mark.parametrize("adversarial_weight", [0.0, 1e-3])
def test_srgan_content_loss_falls_in_a_few_steps(adversarial_weight):
    _, _, model, _ = _srgan(skip="none", adversarial_weight=adversarial_weight, learning_rate=3e-3)
    batch = _patch_batch()
    before = _content_loss(model, batch)
    ds = tf.data.Dataset.from_tensors(batch).repeat()
    history = model.fit(ds, steps_per_epoch=40, epochs=1, verbose=0).history
    after = _content_loss(model, batch)
    assert after < 0.5 * before, (before, after)
    assert history["psnr"][0] > 0
    if adversarial_weight:
        assert history["d_loss"][0] > 0 and history["adversarial_loss"][0] > 0
    else:  # content loss alone: the discriminator never trains
        assert history["d_loss"][0] == 0.0


def test_srgan_discriminator_learns_to_tell_real_patches_from_upscaled_ones():
    _, _, model, _ = _srgan(skip="none", adversarial_weight=1e-3, learning_rate=2e-3)
    model.g_optimizer.learning_rate = 0.0  # only the discriminator moves
    batch = _patch_batch()

    def d_loss() -> float:
        fake = model.upscale(batch["low_res"], training=False)
        return float(model.discriminator_loss(model.discriminator(batch["high_res"]), model.discriminator(fake)))

    before = d_loss()
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(), steps_per_epoch=40, epochs=1, verbose=0)
    assert d_loss() < before


def test_srgan_pretrains_on_content_loss_before_the_game():
    family, hp, model, _ = _srgan(pretrain_epochs=1, epochs=1, steps_per_epoch=2)
    ds = tf.data.Dataset.from_tensors(_patch_batch(4)).repeat()
    history = family.train(model, hp, ds, None)
    assert len(history["pretrain_content_loss"]) == 1 and len(history["content_loss"]) == 1
    assert float(model.adversarial_scale.numpy()) == 1.0


def test_srgan_bad_configs_are_one_line_errors():
    family = registry.get("srgan")
    with pytest.raises(ValueError, match="factor"):
        family.hparams({"factor": 3})
    with pytest.raises(ValueError, match="adversarial_weight"):
        family.hparams({"adversarial_weight": -1.0})
    with pytest.raises(ValueError, match="skip"):
        family.hparams({"skip": "nearest"})
    with pytest.raises(ValueError, match="times factor 4"):
        family.build(family.hparams({"factor": 4}), PATCHES)
    with pytest.raises(ValueError, match="RGB"):
        family.build(family.hparams({}), DataSpec({"high_res": FeatureInfo((16, 16, 1), "float32"),
                                                   "low_res": FeatureInfo((8, 8, 1), "float32")}))


# --- LAPGAN -----------------------------------------------------------------------------------------------


def _lapgan(**overrides):
    family = registry.get("lapgan")
    hp = family.hparams({"latent_dim": 8, "noise_dim": 4, "hidden_units": (32,), "filters": 8, "seed": 0,
                         **overrides})
    return family, hp, family.build(hp, DIGITS)


def test_lapgan_generates_digits_from_coarse_to_fine_on_the_gans_training_step():
    family, hp, model = _lapgan()
    assert isinstance(family, gan.Gan) and family.task == GENERATIVE
    assert family.signature_roles == {"generate": GENERATE}
    signature = family.signatures(model, hp, DIGITS)["generate"]
    assert signature.input_signature == {"z": ((None, 8 + 2 * 4), "float32")}
    z = np.random.default_rng(0).normal(size=(5, 16)).astype(np.float32)
    images = np.asarray(signature.fn({"z": z})["image"])
    assert images.shape == (5, 8, 8, 1) and images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, np.asarray(signature.fn({"z": z})["image"]))  # deterministic in z
    for step in ("train_step", "test_step", "discriminator_loss", "generator_loss"):
        assert getattr(type(model), step) is getattr(gan.GenerativeAdversarialNetwork, step)
    # each finer level's noise changes the image: every level takes part in generation
    for start in (8, 12):
        other = z.copy()
        other[:, start:start + 4] += 1.0
        assert not np.allclose(np.asarray(signature.fn({"z": other})["image"]), images)


def test_lapgan_levels_follow_the_pyramid(digits):
    _, _, model = _lapgan(levels=2)
    assert model.latent_dim == 12
    z = np.zeros((3, 12), np.float32)
    conditioned = model.generate(z, digits[:3])
    assert [tuple(p.shape) for p in conditioned] == [(3, 4, 4, 1), (3, 8, 8, 1)]
    assert tuple(model.discriminate(conditioned, digits[:3]).shape) == (3, 2)
    with pytest.raises(ValueError, match="halved"):
        registry.get("lapgan").build(registry.get("lapgan").hparams({"levels": 5}), DIGITS)
    with pytest.raises(ValueError, match="levels"):
        registry.get("lapgan").hparams({"levels": 0})


def _lapgan_losses(model, real: np.ndarray) -> tuple[float, float]:
    """d_loss and g_loss on the fixed real batch and fixed latents, every level conditioned on the real
    images (as in training), no dropout."""
    z = keras.random.normal((len(real), model.latent_dim), seed=123)
    fake_logits = model.discriminate(model.generate(z, real, training=False), real, training=False)
    d_loss = model.discriminator_loss(model.discriminate(real, real, training=False), fake_logits)
    return float(d_loss), float(model.generator_loss(fake_logits))


@pytest.mark.parametrize("net", ["discriminator", "generator"])
def test_lapgan_loss_of_the_training_network_falls(digits, net):
    _, _, model = _lapgan()
    other = model.g_optimizer if net == "discriminator" else model.d_optimizer
    other.learning_rate = 0.0
    d_before, g_before = _lapgan_losses(model, digits)
    ds = tf.data.Dataset.from_tensor_slices({"image": digits}).batch(64).repeat()
    model.fit(ds, steps_per_epoch=30, epochs=1, verbose=0)
    d_after, g_after = _lapgan_losses(model, digits)
    if net == "discriminator":
        assert d_after < d_before, (d_before, d_after)
    else:
        assert g_after < g_before, (g_before, g_after)

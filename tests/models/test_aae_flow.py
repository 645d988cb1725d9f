"""The adversarial autoencoder (models/aae.py) and the RealNVP flow (models/flow.py,
models/layers/coupling.py) on tiny tensors and a few training steps on digits."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops
from sklearn.datasets import load_digits

from models import registry
from models.aae import mixture_means
from models.base import DENSITY, SAMPLE, DataSpec, FeatureInfo
from models.layers.coupling import AffineCoupling, Squeeze, coupling_mask

DIGITS = load_digits()
# The pipeline's pixels: 0..16 rescaled to 0..255, then /255 by the Transform.
IMAGES = (np.rint(DIGITS.images * (255.0 / 16)) / 255.0).astype(np.float32)[..., None]
LABELS = DIGITS.target.astype(np.int64)
DATA = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)


def _dataset(n: int = 512, batch: int = 64, labels: bool = True) -> tf.data.Dataset:
    x = {"image": IMAGES[:n]}
    ds = tf.data.Dataset.from_tensor_slices((x, LABELS[:n]) if labels else x)
    return ds.shuffle(n, seed=0).batch(batch).repeat()


@pytest.fixture()
def float64():
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(floatx)
        keras.config.set_dtype_policy(policy)


def _randomize(layers, rng: np.random.Generator, scale: float = 0.3) -> None:
    """Non-zero scale-and-shift outputs, so the couplings are not the identity."""
    for layer in layers:
        if isinstance(layer, AffineCoupling):
            for weight in layer.scale_shift.weights:
                weight.assign(rng.normal(0.0, scale, weight.shape))


def _numeric_log_det(fn, x: np.ndarray, eps: float = 1e-5) -> float:
    """``log |det J|`` of ``fn`` at one flat point ``x`` by central differences."""
    columns = []
    for i in range(x.size):
        step = np.zeros_like(x)
        step.flat[i] = eps
        columns.append((fn(x + step) - fn(x - step)).reshape(-1) / (2 * eps))
    return float(np.linalg.slogdet(np.stack(columns, axis=1))[1])


# ------------------------------------------------------------------ coupling layers


def test_masks_alternate_and_cover_every_dimension():
    for kind, shape in (("checkerboard", (4, 4, 1)), ("channel", (2, 2, 4))):
        even, odd = coupling_mask(kind, shape, 0), coupling_mask(kind, shape, 1)
        np.testing.assert_array_equal(even + odd, np.ones(shape))
        assert even.sum() == odd.sum() == np.prod(shape) / 2
    with pytest.raises(ValueError, match="even number of channels"):
        coupling_mask("channel", (4, 4, 1))
    with pytest.raises(ValueError, match="mask must be one of"):
        AffineCoupling("diagonal")


@pytest.mark.parametrize("mask, shape", [("checkerboard", (3, 3, 2)), ("channel", (2, 2, 4))])
def test_coupling_inverse_and_log_det_against_numeric_jacobian(float64, mask, shape):
    rng = np.random.default_rng(1)
    layer = AffineCoupling(mask, parity=1, hidden=8)
    x = rng.normal(size=(1, *shape))
    layer(x)
    _randomize([layer], rng)
    y, log_det = layer(x)
    assert not np.allclose(ops.convert_to_numpy(y), x)  # not the identity
    np.testing.assert_allclose(ops.convert_to_numpy(layer.inverse(y)), x, atol=1e-10)
    numeric = _numeric_log_det(lambda v: ops.convert_to_numpy(layer(v.reshape(1, *shape))[0]), x.reshape(-1))
    assert float(log_det[0]) == pytest.approx(numeric, abs=1e-6)
    assert abs(numeric) > 0.1  # the check has something to check


def test_coupling_config_round_trip():
    layer = AffineCoupling("channel", parity=1, hidden=16, layers=3, name="c")
    clone = AffineCoupling.from_config(layer.get_config())
    assert (clone.mask, clone.parity, clone.hidden, clone.layers) == ("channel", 1, 16, 3)
    x = np.arange(32, dtype=np.float32).reshape(1, 4, 4, 2)
    np.testing.assert_array_equal(ops.convert_to_numpy(Squeeze().inverse(Squeeze()(x))), x)


# ------------------------------------------------------------------ the flow


def _flow(hparams: dict | None = None, shape=(8, 8, 1)):
    family = registry.get("realnvp")
    hp = family.hparams({"hidden": 16, "checkerboard_layers": 2, "channel_layers": 2, **(hparams or {})})
    return family, hp, family.build(hp, DataSpec({"image": FeatureInfo(shape, "float32")}))


def test_flow_inverse_undoes_forward_and_log_det_matches_numeric_jacobian(float64):
    _, _, model = _flow(shape=(4, 4, 1))
    rng = np.random.default_rng(2)
    _randomize(model.steps, rng)
    y = rng.uniform(0.05, 0.95, size=(1, 4, 4, 1))
    z, log_det = model.transform(y)
    assert tuple(z.shape) == (1, 2, 2, 4)  # squeezed
    np.testing.assert_allclose(ops.convert_to_numpy(model.inverse_transform(z)), y, atol=1e-9)
    numeric = _numeric_log_det(lambda v: ops.convert_to_numpy(model.transform(v.reshape(1, 4, 4, 1))[0]),
                               y.reshape(-1), eps=1e-6)
    assert float(log_det[0]) == pytest.approx(numeric, abs=1e-5)


def test_fresh_flow_likelihood_is_the_logit_transform_under_a_gaussian():
    """Identity couplings: z = logit(alpha + (1 - 2 alpha) y); bits/dim computed by hand."""
    _, hp, model = _flow({"dequantization_samples": 2})
    images = IMAGES[:5]
    out = {k: ops.convert_to_numpy(v) for k, v in model({"image": images}, training=False).items()}
    expected = []
    for noise in model.noise_bank:
        y = (np.round(images * 255) + noise) / 256.0
        s = hp.alpha + (1 - 2 * hp.alpha) * y
        z = np.log(s) - np.log1p(-s)
        log_det = np.log(1 - 2 * hp.alpha) - np.log(s) - np.log1p(-s)
        log_p = (-0.5 * (z ** 2 + math.log(2 * math.pi)) + log_det).reshape(5, -1).sum(1) - 64 * math.log(256)
        expected.append(log_p)
    log_likelihood = np.mean(expected, axis=0)
    np.testing.assert_allclose(out["log_likelihood"], log_likelihood, rtol=1e-4)
    np.testing.assert_allclose(out["bits_per_dim"], -log_likelihood / (64 * math.log(2)), rtol=1e-4)


def test_flow_loss_falls_in_a_few_steps_and_serves_bits_per_dim_and_samples():
    keras.utils.set_random_seed(0)
    family, hp, model = _flow({"learning_rate": 3e-3})
    eval_x = {"image": IMAGES[1500:1700]}
    before = float(np.mean(ops.convert_to_numpy(model(eval_x, training=False)["bits_per_dim"])))
    model.fit(_dataset(labels=False), epochs=1, steps_per_epoch=30, verbose=0)
    after = float(np.mean(ops.convert_to_numpy(model(eval_x, training=False)["bits_per_dim"])))
    assert after < before - 0.5, (before, after)

    signatures = family.signatures(model, hp, DATA)
    assert {family.signature_roles[name] for name in signatures} == {DENSITY, SAMPLE}
    served = signatures["log_prob"].fn({"image": IMAGES[:3]})
    again = signatures["log_prob"].fn({"image": IMAGES[:3]})
    assert tuple(served["bits_per_dim"].shape) == (3,)
    np.testing.assert_array_equal(ops.convert_to_numpy(served["bits_per_dim"]),  # deterministic: fixed noise bank
                                  ops.convert_to_numpy(again["bits_per_dim"]))
    samples = signatures["sample"].fn({"count": np.int32(5)})
    images = ops.convert_to_numpy(samples["image"])
    assert images.shape == (5, 8, 8, 1) and tuple(samples["z"].shape) == (5, 64)
    assert images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_allclose(images * 255, np.round(images * 255), atol=1e-3)  # on the 256-level grid


def test_flow_hparams_reject_bad_values():
    family = registry.get("realnvp")
    with pytest.raises(ValueError, match="alpha must be in"):
        family.hparams({"alpha": 0.5})
    with pytest.raises(ValueError, match="checkerboard_layers \\+ channel_layers"):
        family.hparams({"checkerboard_layers": 0, "channel_layers": 0})
    with pytest.raises(ValueError, match="levels must be"):
        family.hparams({"levels": 1})
    with pytest.raises(ValueError, match="sides must be even"):
        family.build(family.hparams({}), DataSpec({"image": FeatureInfo((7, 7, 1), "float32")}))


# ------------------------------------------------------------------ the AAE


def _aae(hparams: dict | None = None):
    family = registry.get("aae")
    hp = family.hparams({"latent_dim": 4, "filters": (16, 32), "discriminator_units": (64, 64),
                         **(hparams or {})})
    return family, hp, family.build(hp, DATA)


def _prior_gap(codes: np.ndarray) -> float:
    """How far the codes' moments are from N(0, I): squared mean plus squared (std - 1), summed over dims."""
    return float(np.sum(codes.mean(0) ** 2) + np.sum((codes.std(0) - 1.0) ** 2))


def test_aae_reconstruction_falls_and_code_statistics_move_towards_the_prior():
    """A fresh encoder's codes sit in a tight ball (std ~0.05) around an arbitrary mean; after a few hundred
    steps of both phases their moments are nearer N(0, I) and their spread grew towards 1."""
    keras.utils.set_random_seed(0)
    family, hp, model = _aae()
    eval_images = IMAGES[1500:1700]

    def measure():
        out = model({"image": eval_images}, training=False)
        nll = float(np.mean(ops.convert_to_numpy(model.reconstruction_loss(eval_images, out["logits"]))))
        codes = ops.convert_to_numpy(out["z"])
        return nll, _prior_gap(codes), float(codes.std(0).mean())

    nll_before, gap_before, std_before = measure()
    history = model.fit(_dataset(), epochs=6, steps_per_epoch=50, verbose=0).history
    assert {"reconstruction_nll", "d_loss", "g_loss"} <= set(history)
    nll_after, gap_after, std_after = measure()
    assert nll_after < 0.8 * nll_before, (nll_before, nll_after)
    assert gap_after < 0.7 * gap_before, (gap_before, gap_after)
    assert std_after > 3 * std_before, (std_before, std_after)


def test_aae_signatures_follow_the_vae_conventions():
    family, hp, model = _aae()
    signatures = family.signatures(model, hp, DATA)
    assert set(signatures) == {"encode", "decode", "sample"} and family.main_signature == "encode"
    code = signatures["encode"].fn({"image": IMAGES[:3]})["z"]
    assert tuple(code.shape) == (3, 4)
    assert signatures["decode"].input_signature == {"z": ((None, 4), "float32")}
    assert tuple(signatures["decode"].fn({"z": code})["image"].shape) == (3, 8, 8, 1)
    sample = signatures["sample"].fn({"count": np.int32(6)})
    assert tuple(sample["image"].shape) == (6, 8, 8, 1) and tuple(sample["z"].shape) == (6, 4)


def test_aae_mixture_prior_has_one_component_per_class():
    _, _, model = _aae({"prior": "mixture", "mixture_std": 0.1, "mixture_radius": 3.0})
    means = mixture_means(10, 4, 3.0)
    labels = np.repeat(np.arange(10), 200)
    draws = ops.convert_to_numpy(model.sample_prior(len(labels), labels))
    per_class = draws.reshape(10, 200, 4)
    np.testing.assert_allclose(per_class.mean(1), means, atol=0.05)
    np.testing.assert_allclose(per_class.std(1), 0.1, atol=0.03)
    # The discriminator sees the class: its input is the code and the one-hot label.
    assert model.discriminator.layers[1].kernel.shape[0] == 4 + 10
    family = registry.get("aae")
    with pytest.raises(ValueError, match="one component per class"):
        family.build(family.hparams({"prior": "mixture"}), DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}))
    with pytest.raises(ValueError, match="prior must be one of"):
        family.hparams({"prior": "laplace"})

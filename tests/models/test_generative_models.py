"""Generative families (VAE, GAN, autoencoders, DBN) and the RBM layer: each
trains a few steps on sklearn digits and its loss moves the right way."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from models import autoencoder, dbn, gan, registry, vae  # noqa: F401  (registers the families)
from models.base import CLASSIFICATION, GENERATIVE, DataSpec, FeatureInfo
from models.layers.rbm import RBM, ContrastiveDivergence

IMAGE = {"image": FeatureInfo((8, 8, 1), "float32")}
UNLABELLED = DataSpec(IMAGE)
LABELLED = DataSpec(IMAGE, "label", 10)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    return (data.images[:512] / 16.0).astype(np.float32)[..., None], data.target[:512].astype(np.int64)


def _dataset(digits, labelled: bool, batch_size: int = 64):
    images, labels = digits
    features = {"image": images}
    return tf.data.Dataset.from_tensor_slices((features, labels) if labelled else features).batch(batch_size)


def _loss(model, digits, labelled: bool) -> float:
    keras.utils.set_random_seed(1)  # the same posterior/noise draws before and after training
    return model.evaluate(_dataset(digits, labelled, 512), verbose=0, return_dict=True)["loss"]


def test_families_registered_with_their_task():
    assert {"vae", "gan", "conditional_gan", "autoencoder", "dbn"} <= set(registry.names())
    for name in ("vae", "gan", "conditional_gan", "autoencoder"):
        assert registry.get(name).task == GENERATIVE
    assert registry.get("dbn").task == CLASSIFICATION


# ---------------------------------------------------------------------------- VAE


def test_vae_negative_elbo_falls_and_parts_add_up(digits):
    family = registry.get("vae")
    hp = family.hparams({"latent_dim": 4, "epochs": 3, "seed": 0})
    model = family.build(hp, UNLABELLED)
    before = _loss(model, digits, labelled=False)
    history = family.train(model, hp, _dataset(digits, False), None)
    after = _loss(model, digits, labelled=False)
    assert after < before - 2.0, (before, after)
    # The loss is the negative ELBO: reconstruction NLL + KL, both non-negative.
    for epoch in range(3):
        assert history["loss"][epoch] == pytest.approx(
            history["reconstruction_nll"][epoch] + history["kl"][epoch], rel=1e-3)
        assert history["kl"][epoch] >= 0


def test_vae_kl_term_is_the_closed_form():
    z_mean, z_log_var = np.array([[1.0, 0.0]]), np.array([[0.0, np.log(4.0)]])
    # KL(N(1,1)||N(0,1)) = 0.5; KL(N(0,4)||N(0,1)) = 0.5 * (4 - 1 - ln 4)
    expected = 0.5 + 0.5 * (4.0 - 1.0 - np.log(4.0))
    assert float(vae.gaussian_kl(z_mean, z_log_var)[0]) == pytest.approx(expected, rel=1e-6)


def _numpy_bernoulli_nll(images: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """-log p(x|z) of Bernoulli pixels with means sigmoid(logits), summed over each image's pixels."""
    p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    log_lik = images * np.log(p) + (1.0 - images) * np.log1p(-p)
    return -log_lik.reshape(len(images), -1).sum(axis=1)


def test_bernoulli_nll_is_the_summed_pixel_negative_log_likelihood(digits):
    images = digits[0][:6]
    logits = np.random.default_rng(0).normal(scale=2.0, size=images.shape).astype(np.float32)
    nll = np.asarray(vae.bernoulli_nll(images, logits))
    assert nll.shape == (6,)
    np.testing.assert_allclose(nll, _numpy_bernoulli_nll(images, logits), rtol=1e-5)
    # A perfect, confident reconstruction of binary pixels costs ~0 nats; a coin flip ln 2 per pixel.
    binary = (images > 0.5).astype(np.float32)
    assert float(np.max(vae.bernoulli_nll(binary, (binary * 2 - 1) * 30.0))) < 1e-6
    np.testing.assert_allclose(np.asarray(vae.bernoulli_nll(binary, np.zeros_like(binary))), 64 * np.log(2), rtol=1e-5)


def test_vae_loss_is_the_negative_elbo_in_nats_per_image(digits):
    """compute_loss = mean over images of (summed Bernoulli NLL + closed-form KL), against numpy."""
    family = registry.get("vae")
    model = family.build(family.hparams({"latent_dim": 3}), UNLABELLED)
    images = digits[0][:16]
    outputs = model({"image": images}, training=True)
    loss = float(model.compute_loss({"image": images}, None, outputs))
    z_mean, z_log_var = np.asarray(outputs["z_mean"], np.float64), np.asarray(outputs["z_log_var"], np.float64)
    kl = -0.5 * np.sum(1 + z_log_var - z_mean ** 2 - np.exp(z_log_var), axis=1)
    expected = np.mean(_numpy_bernoulli_nll(images, np.asarray(outputs["logits"])) + kl)
    assert loss == pytest.approx(expected, rel=1e-5)
    assert expected > 20.0  # 64 pixels of an untrained decoder: tens of nats, not a per-pixel mean


def test_vae_reparameterisation_draws_z_from_the_posterior():
    """z = mu + sigma * eps: over many draws the sample mean is mu and the std sigma."""
    family = registry.get("vae")
    model = family.build(family.hparams({"latent_dim": 2}), UNLABELLED)
    n = 20_000
    z_mean = np.tile(np.array([[1.0, -2.0]], np.float32), (n, 1))
    z_log_var = np.tile(np.log(np.array([[4.0, 0.25]], np.float32)), (n, 1))
    z = np.asarray(model.reparameterize(z_mean, z_log_var))
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z.std(axis=0), [2.0, 0.5], rtol=0.03)
    assert not np.allclose(z, z_mean)
    # ... and a forward pass decodes such a draw: two passes over the same images differ.
    images = np.random.default_rng(0).random((4, 8, 8, 1)).astype(np.float32)
    a, b = (np.asarray(model({"image": images})["logits"]) for _ in range(2))
    assert not np.allclose(a, b)


def test_vae_signatures(digits):
    family = registry.get("vae")
    hp = family.hparams({"latent_dim": 3})
    model = family.build(hp, UNLABELLED)
    signatures = family.signatures(model, hp, UNLABELLED)
    assert set(signatures) == {"encode", "decode", "sample"}
    assert signatures["encode"].input_signature is None
    assert signatures["decode"].input_signature == {"z": ((None, 3), "float32")}
    encoded = signatures["encode"].fn({"image": digits[0][:5]})
    assert tuple(encoded["z_mean"].shape) == (5, 3) == tuple(encoded["z_log_var"].shape)
    image = np.asarray(signatures["decode"].fn({"z": encoded["z_mean"]})["image"])
    assert image.shape == (5, 8, 8, 1) and 0 <= image.min() and image.max() <= 1
    sample = tf.function(signatures["sample"].fn, input_signature=[{"count": tf.TensorSpec((), tf.int32)}])
    assert tuple(sample({"count": tf.constant(7)})["image"].shape) == (7, 8, 8, 1)


def test_vae_rejects_non_image_feature():
    family = registry.get("vae")
    with pytest.raises(ValueError, match="image"):
        family.build(family.hparams(), DataSpec({"image": FeatureInfo((64, 3, 2, 1), "float32")}))


# ------------------------------------------------------------------- autoencoders


@pytest.mark.parametrize("variant", ["undercomplete", "denoising", "sparse"])
def test_autoencoder_reconstruction_improves(digits, variant):
    family = registry.get("autoencoder")
    hp = family.hparams({"variant": variant, "epochs": 4, "seed": 0})
    model = family.build(hp, UNLABELLED)
    score = family.signatures(model, hp, UNLABELLED)["score"].fn
    before = np.asarray(score({"image": digits[0]})["reconstruction_error"])
    family.train(model, hp, _dataset(digits, False), None)
    after = np.asarray(score({"image": digits[0]})["reconstruction_error"])
    assert before.shape == after.shape == (len(digits[0]),)
    assert after.mean() < 0.85 * before.mean(), (before.mean(), after.mean())


def test_denoising_autoencoder_corrupts_only_in_training(digits):
    family = registry.get("autoencoder")
    model = family.build(family.hparams({"variant": "denoising"}), UNLABELLED)
    images = digits[0][:16]
    corrupted = np.asarray(model.corrupt(keras.ops.convert_to_tensor(images)))
    assert 0 <= corrupted.min() and corrupted.max() <= 1 and not np.allclose(corrupted, images)
    a, b = (np.asarray(model({"image": images}, training=False)["reconstruction"]) for _ in range(2))
    np.testing.assert_allclose(a, b)


def test_sparse_autoencoder_penalty_is_in_the_loss(digits):
    family = registry.get("autoencoder")
    plain = family.build(family.hparams({"variant": "undercomplete", "seed": 0}), UNLABELLED)
    sparse = family.build(family.hparams({"variant": "sparse", "sparsity_weight": 10.0, "seed": 0}), UNLABELLED)
    for model in (plain, sparse):
        outputs = model({"image": digits[0][:32]})
        loss = float(model.compute_loss({"image": digits[0][:32]}, None, outputs))
        error = float(np.mean(autoencoder.reconstruction_error(digits[0][:32], outputs["reconstruction"])))
        penalty = 10.0 * float(np.mean(np.sum(np.abs(outputs["code"]), axis=-1))) if model is sparse else 0.0
        assert loss == pytest.approx(error + penalty, rel=1e-4)


def test_autoencoder_unknown_variant():
    family = registry.get("autoencoder")
    with pytest.raises(ValueError, match="undercomplete, denoising, sparse"):
        family.build(family.hparams({"variant": "contractive"}), UNLABELLED)


# ---------------------------------------------------------------------------- GAN


@pytest.mark.parametrize("name", ["gan", "conditional_gan"])
def test_gan_two_optimizers_step_and_discriminator_learns(digits, name):
    family = registry.get(name)
    hp = family.hparams({"latent_dim": 8, "epochs": 1, "seed": 0})
    model = family.build(hp, LABELLED)
    labelled = model.conditional
    before = _loss_pair(model, digits, labelled)
    g_before = [np.array(w) for w in model.generator.trainable_weights]
    d_before = [np.array(w) for w in model.discriminator.trainable_weights]
    history = family.train(model, hp, _dataset(digits, labelled, 32).repeat(3), None)
    steps = 3 * len(digits[0]) // 32
    assert int(model.d_optimizer.iterations) == steps == int(model.g_optimizer.iterations)
    assert set(history) == {"d_loss", "g_loss"}
    for old, new in ((g_before, model.generator.trainable_weights), (d_before, model.discriminator.trainable_weights)):
        assert any(not np.allclose(a, np.array(b)) for a, b in zip(old, new))
    after = _loss_pair(model, digits, labelled)
    # At initialisation D cannot tell real from fake (d_loss ~ 2 ln 2); a few steps teach it.
    assert after["d_loss"] < before["d_loss"] - 0.1, (before, after)


def _loss_pair(model, digits, labelled: bool) -> dict[str, float]:
    keras.utils.set_random_seed(1)
    return model.evaluate(_dataset(digits, labelled, 512), verbose=0, return_dict=True)


def test_conditional_gan_generate_signature_and_errors(digits):
    family = registry.get("conditional_gan")
    hp = family.hparams({"latent_dim": 5})
    model = family.build(hp, LABELLED)
    signature = family.signatures(model, hp, LABELLED)["generate"]
    assert signature.input_signature == {"z": ((None, 5), "float32"), "label": ((None,), "int64")}
    images = np.asarray(signature.fn({"z": np.zeros((4, 5), np.float32), "label": np.array([0, 1, 2, 3])})["image"])
    assert images.shape == (4, 8, 8, 1)
    # The label changes the image for the same latent.
    assert not np.allclose(images[0], images[1])
    with pytest.raises(ValueError, match="labels"):
        model.generate(keras.ops.zeros((1, 5)))
    with pytest.raises(ValueError, match="num_classes"):
        family.build(hp, UNLABELLED)
    with pytest.raises(ValueError, match="label is missing"):
        model.train_step({"image": digits[0][:4]})


def test_unconditional_gan_signature_has_no_label():
    family = registry.get("gan")
    hp = family.hparams({"latent_dim": 6})
    signature = family.signatures(family.build(hp, UNLABELLED), hp, UNLABELLED)["generate"]
    assert signature.input_signature == {"z": ((None, 6), "float32")}


# ---------------------------------------------------------------------------- RBM


def test_cd_gradient_is_the_free_energy_difference():
    """d/dW [mean F(v) - mean F(v_neg)] = -(v' p(h|v) - v_neg' p(h|v_neg)) / n."""
    rbm = RBM(units=3, seed=0)
    rng = np.random.default_rng(0)
    v = rng.integers(0, 2, (5, 4)).astype(np.float32)
    v_neg = rng.random((5, 4)).astype(np.float32)
    rbm.build((None, 4))
    rbm.kernel.assign(rng.normal(size=(4, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        surrogate = tf.reduce_mean(rbm.free_energy(v)) - tf.reduce_mean(rbm.free_energy(v_neg))
    grad_w, grad_b, grad_c = tape.gradient(surrogate, [rbm.kernel, rbm.visible_bias, rbm.hidden_bias])
    h, h_neg = np.asarray(rbm.hidden_probabilities(v)), np.asarray(rbm.hidden_probabilities(v_neg))
    np.testing.assert_allclose(grad_w, -(v.T @ h - v_neg.T @ h_neg) / 5, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_b, -(v - v_neg).mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad_c, -(h - h_neg).mean(0), rtol=1e-5, atol=1e-6)


def test_cd_k_lowers_reconstruction_error_of_a_tiny_rbm():
    rng = np.random.default_rng(0)
    patterns = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1], [1, 0, 1, 0, 1, 0]], np.float32)
    data = patterns[rng.integers(0, 3, 300)]
    rbm = RBM(units=4, seed=0)
    trainer = ContrastiveDivergence(rbm, k=2)
    trainer.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.5))
    trainer(data[:1])
    before = float(rbm.reconstruction_error(patterns))
    history = trainer.fit(data, batch_size=10, epochs=15, verbose=0).history
    after = float(rbm.reconstruction_error(patterns))
    assert after < 0.5 * before, (before, after)
    assert history["reconstruction_error"][-1] < history["reconstruction_error"][0]


class _GibbsSpy:
    """Records, for every Gibbs chain the RBM runs, the down passes p(v|h) it made (one per step)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.chains: list[int] = []
        self.running = False
        gibbs, down = RBM.gibbs, RBM.visible_probabilities

        def counting_gibbs(rbm, visible, k=1):
            self.chains.append(0)
            self.running = True
            try:
                return gibbs(rbm, visible, k)
            finally:
                self.running = False

        def counting_down(rbm, hidden):
            if self.running:
                self.chains[-1] += 1
            return down(rbm, hidden)

        monkeypatch.setattr(RBM, "gibbs", counting_gibbs)
        monkeypatch.setattr(RBM, "visible_probabilities", counting_down)


@pytest.mark.parametrize("k", [1, 3])
def test_cd_k_runs_k_gibbs_steps(monkeypatch, k):
    rbm = RBM(units=3, seed=0)
    v = np.random.default_rng(0).integers(0, 2, (5, 6)).astype(np.float32)
    rbm.build(v.shape)
    spy = _GibbsSpy(monkeypatch)
    rbm.contrastive_divergence(v, k)
    assert spy.chains == [k]
    # The trainer passes its k through to the surrogate loss.
    trainer = ContrastiveDivergence(rbm, k=k)
    outputs = trainer(v)
    spy.chains.clear()
    trainer.compute_loss(v, None, outputs)
    assert spy.chains == [k]


def _seeded_rbm(visible: int) -> RBM:
    rbm = RBM(units=4, seed=0)
    rbm.build((None, visible))
    rbm.kernel.assign(np.random.default_rng(1).normal(size=(visible, 4)).astype(np.float32))
    return rbm


def test_cd_3_negative_sample_and_gradient_differ_from_cd_1():
    """Same seed, same weights, same data: three Gibbs steps end somewhere else than one."""
    v = np.random.default_rng(0).integers(0, 2, (64, 6)).astype(np.float32)
    negative, gradient = {}, {}
    for k in (1, 3):
        negative[k] = np.asarray(_seeded_rbm(6).gibbs(v, k))
        rbm = _seeded_rbm(6)
        with tf.GradientTape() as tape:
            loss = rbm.contrastive_divergence(v, k)
        gradient[k] = np.asarray(tape.gradient(loss, rbm.kernel))
    np.testing.assert_array_equal(negative[1], np.asarray(_seeded_rbm(6).gibbs(v, 1)))  # seeded: repeatable
    assert np.abs(negative[1] - negative[3]).mean() > 1e-3
    assert np.abs(gradient[1] - gradient[3]).max() > 1e-4


def test_dbn_pretraining_uses_cd_k(monkeypatch, digits):
    used = []

    class Recording(ContrastiveDivergence):
        def __init__(self, rbm, k=1, **kwargs):
            used.append(k)
            super().__init__(rbm, k, **kwargs)

    monkeypatch.setattr(dbn, "ContrastiveDivergence", Recording)
    family = registry.get("dbn")
    hp = family.hparams({"hidden_units": (8, 4), "cd_k": 3, "pretrain_epochs": 1, "steps_per_epoch": 1})
    family.pretrain(family.build(hp, LABELLED), hp, _dataset(digits, True, 32))
    assert used == [3, 3]


def test_rbm_rejects_bad_arguments():
    with pytest.raises(ValueError, match="units=0"):
        RBM(units=0)
    with pytest.raises(ValueError, match="k=0"):
        RBM(units=2, seed=0).gibbs(keras.ops.ones((1, 3)), k=0)


# ---------------------------------------------------------------------------- DBN


def test_dbn_pretrains_greedily_then_fine_tunes(digits):
    family = registry.get("dbn")
    hp = family.hparams({"hidden_units": (32, 16), "pretrain_epochs": 2, "epochs": 3, "seed": 0})
    model = family.build(hp, LABELLED)
    frozen_first = np.array(model.rbms[0].kernel)
    history = family.train(model, hp, _dataset(digits, True, 32), _dataset(digits, True, 256))
    for i in range(2):
        errors = history[f"rbm_{i}_reconstruction_error"]
        assert len(errors) == 2 and errors[-1] < errors[0]
    assert history["loss"][-1] < history["loss"][0]
    assert not np.allclose(frozen_first, np.array(model.rbms[0].kernel))
    signatures = family.signatures(model, hp, LABELLED)
    assert set(signatures) == {"classify", "features"} and family.main_signature == "classify"
    out = signatures["classify"].fn({"image": digits[0][:6]})
    assert tuple(out["probabilities"].shape) == (6, 10) and tuple(out["classes"].shape) == (6,)
    assert tuple(signatures["features"].fn({"image": digits[0][:6]})["features"].shape) == (6, 16)


def test_dbn_weight_images_are_the_first_rbm_filters():
    family = registry.get("dbn")
    hp = family.hparams({"hidden_units": (6, 3)})
    model = family.build(hp, LABELLED)
    (name, filters), = family.weight_images(model, hp, LABELLED).items()
    assert name == "rbm_filters" and filters.shape == (6, 8, 8)
    np.testing.assert_array_equal(filters[2].reshape(-1), np.asarray(model.rbms[0].kernel)[:, 2])
    flat = DataSpec({"image": FeatureInfo((64,), "float32")}, "label", 10)
    assert family.weight_images(family.build(hp, flat), hp, flat) == {}
    assert registry.get("vae").weight_images(None, None, UNLABELLED) == {}


def test_dbn_pretraining_leaves_lower_rbm_fixed(digits):
    family = registry.get("dbn")
    hp = family.hparams({"hidden_units": (16, 8), "pretrain_epochs": 1})
    model = family.build(hp, LABELLED)
    family.pretrain(model, hp, _dataset(digits, True, 64).take(1))
    first = [np.array(w) for w in model.rbms[0].weights]
    # Pretraining RBM 1 alone must not move RBM 0 (its encoder).
    trainer = ContrastiveDivergence(model.rbms[1], encoder=lambda v: model.up(v, layers=1), input_key="image")
    trainer.compile(optimizer=keras.optimizers.SGD(0.5))
    trainer.fit(_dataset(digits, True, 64), epochs=1, verbose=0)
    for a, b in zip(first, model.rbms[0].weights):
        np.testing.assert_array_equal(a, np.array(b))


# ------------------------------------------------------------------------- export


def _tensor_specs(signature, data: DataSpec) -> dict[str, tf.TensorSpec]:
    if signature.input_signature is None:  # transformed features
        return {k: tf.TensorSpec((None, *f.shape), f.dtype, name=k) for k, f in data.features.items()}
    return {k: tf.TensorSpec(shape, dtype, name=k) for k, (shape, dtype) in signature.input_signature.items()}


@pytest.mark.parametrize("name, data", [("vae", UNLABELLED), ("conditional_gan", LABELLED),
                                        ("autoencoder", UNLABELLED), ("dbn", LABELLED)])
def test_signatures_export_to_a_saved_model(tmp_path, digits, name, data):
    """Every signature traces into a SavedModel that reloads and runs without Python."""
    family = registry.get(name)
    hp = family.hparams({"hidden_units": (8,)} if name == "dbn" else {})
    model = family.build(hp, data)
    module = tf.Module()
    module.model = model
    # As keras.export.ExportArchive does: track all model state, random seeds
    # included (the VAE's `sample` draws from the model's SeedGenerator).
    module.model_variables = list(model.variables)
    functions = {}
    for sig_name, signature in family.signatures(model, hp, data).items():
        functions[sig_name] = tf.function(lambda inputs, fn=signature.fn: fn(inputs),
                                          input_signature=[_tensor_specs(signature, data)])
    path = str(tmp_path / name)
    tf.saved_model.save(module, path, signatures={k: f.get_concrete_function() for k, f in functions.items()})
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) == set(functions) and family.main_signature in functions
    example = {"image": tf.constant(digits[0][:3]), "z": tf.zeros((3, getattr(model, "latent_dim", 1))),
               "label": tf.constant([1, 2, 3], tf.int64), "count": tf.constant(3)}
    for sig_name, fn in loaded.signatures.items():
        inputs = {k: example[k] for k in fn.structured_input_signature[1]}
        outputs = fn(**inputs)
        assert all(int(v.shape[0]) == 3 for v in outputs.values()), (sig_name, outputs)

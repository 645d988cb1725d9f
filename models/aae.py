"""Adversarial autoencoder, as the notes define it: an autoencoder whose latent
code is pushed towards a prior by a discriminator on the code (a GAN in the
latent space instead of the image space).

The encoder (:class:`~models.layers.image_coder.ImageEncoder`) maps an image
to a deterministic code ``z = E(x)``; the decoder
(:class:`~models.layers.image_coder.ImageDecoder`) maps a code to Bernoulli
pixel means. Each training step has two phases, one optimizer per player:

1. reconstruction: encoder and decoder minimise the summed binary
   cross-entropy ``-log p(x | E(x))`` (nats per image, as the VAE's);
2. regularisation: the discriminator ``D`` (the vanilla GAN's MLP,
   :func:`models.gan.mlp_discriminator`, on the code) minimises
   ``BCE(D(z_prior), 1) + BCE(D(E(x)), 0)``, then the encoder, as the
   generator, minimises the non-saturating ``BCE(D(E(x)), 1)``.

The prior (``prior`` hyperparameter) is ``"gaussian"``, ``N(0, I)``, or
``"mixture"``: one Gaussian component per class, means on a circle of radius
``mixture_radius`` in the first two code dimensions, scale ``mixture_std``;
with a mixture the discriminator also sees the one-hot label (the real
code's component, the image's class), so each class is pushed to its own
component, and a draw from component ``c`` decodes to a ``c``. So decoding
prior draws generates images.

The three-phase step, :meth:`AdversarialAutoencoder.train_batch`, is written
once on :class:`models.common.MultiOptimizerModel`, as the GAN's: its
``gradient_step`` is the one backend-specific part, so the AAE trains under
TensorFlow and JAX; losses, sampling and networks are backend-neutral and
shared with ``test_batch``.

Serving signatures, the VAE's conventions: ``encode`` (transformed features ->
the code ``z``: a deterministic encoder has no ``z_log_var``), ``decode``
(``z`` -> ``image``) and ``sample`` (a scalar ``count`` -> ``count`` images
decoded from prior draws, and their ``z``).

Example:

>>> from models import registry
>>> family = registry.get("aae")
>>> data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)
>>> model = family.build(family.hparams({"latent_dim": 2, "prior": "mixture"}), data)
>>> sorted(model({"image": keras.ops.zeros((3, 8, 8, 1))}))
['logits', 'reconstruction', 'z']
>>> tuple(model.sample_prior(4).shape)
(4, 2)
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from keras import ops

from models import registry
from models.base import DECODE, ENCODE, SAMPLE, DataSpec, FeatureInfo, GenerativeFamily, Signature  # noqa: F401
from models.common import MultiOptimizerModel, check_choice, image_input, make_optimizer
from models.features.image import IMAGE
from models.gan import _bce_with_logits, mlp_discriminator
from models.hparams import ImageHParams, check_positive
from models.layers.image_coder import ImageDecoder, ImageEncoder
from models.vae import bernoulli_nll

PRIORS = ("gaussian", "mixture")


def mixture_means(components: int, latent_dim: int, radius: float) -> np.ndarray:
    """``(components, latent_dim)`` means: evenly spaced on a circle of ``radius`` in the first
    two dimensions (on a line for a 1-D code), 0 in the others.

    >>> mixture_means(4, 3, 2.0).round(6).tolist()
    [[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [-2.0, 0.0, 0.0], [-0.0, -2.0, 0.0]]
    """
    means = np.zeros((components, latent_dim), np.float32)
    if latent_dim == 1:
        means[:, 0] = np.linspace(-radius, radius, components)
        return means
    angles = 2.0 * math.pi * np.arange(components) / components
    means[:, 0], means[:, 1] = radius * np.cos(angles), radius * np.sin(angles)
    return means


def _shape(count: Any, *dims: int) -> Any:
    """The shape ``(count, *dims)``: a tuple for a Python ``count`` (a batch size; JAX's jit needs a
    static shape), a tensor for a tensor (the ``sample`` signature's count)."""
    return (count, *dims) if isinstance(count, int) else ops.stack([count, *dims])


class AdversarialAutoencoder(MultiOptimizerModel):
    """Encoder, decoder and code discriminator; see the module docstring.

    ``call`` returns the code ``z`` and its reconstruction (pixel means and logits).
    """

    def __init__(self, shape: tuple[int, int, int], latent_dim: int = 8, filters: tuple[int, ...] = (32, 64),
                 discriminator_units: tuple[int, ...] = (128, 128), dropout: float = 0.0,
                 prior: str = "gaussian", num_classes: int | None = None, mixture_radius: float = 3.0,
                 mixture_std: float = 0.5, image_key: str = IMAGE, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_choice("prior", prior, PRIORS)
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1; got {latent_dim}")
        if prior == "mixture" and (num_classes is None or num_classes < 2):
            raise ValueError(f"a mixture prior has one component per class: it needs labelled data with at "
                             f"least 2 classes; got num_classes={num_classes}")
        self.shape, self.latent_dim, self.image_key = tuple(shape), latent_dim, image_key
        self.prior, self.num_classes = prior, num_classes if prior == "mixture" else None
        self.mixture_std = mixture_std
        self.means = mixture_means(num_classes, latent_dim, mixture_radius) if prior == "mixture" else None
        self.encoder = ImageEncoder(latent_dim, filters, name="encoder")
        self.decoder = ImageDecoder(self.shape, tuple(reversed(filters)), output_activation=None, name="decoder")
        self.discriminator = mlp_discriminator(tuple(discriminator_units), dropout, name="discriminator")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_nll")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    @property
    def conditional(self) -> bool:
        """Whether the discriminator sees the class (a mixture prior)."""
        return self.num_classes is not None

    def compile(self, ae_optimizer: keras.optimizers.Optimizer, d_optimizer: keras.optimizers.Optimizer,
                g_optimizer: keras.optimizers.Optimizer, **kwargs: Any) -> None:
        super().compile(optimizers={"ae_optimizer": ae_optimizer, "d_optimizer": d_optimizer,
                                    "g_optimizer": g_optimizer}, **kwargs)

    def optimizer_variables(self) -> dict[str, list[Any]]:
        return {"ae_optimizer": self.encoder.trainable_weights + self.decoder.trainable_weights,
                "d_optimizer": self.discriminator.trainable_weights,
                "g_optimizer": self.encoder.trainable_weights}

    # ------------------------------------------------------------ networks

    def encode(self, images: Any, training: bool | None = None) -> Any:
        return self.encoder(images, training=training)

    def decode_logits(self, z: Any, training: bool | None = None) -> Any:
        return self.decoder(z, training=training)

    def decode(self, z: Any) -> Any:
        return ops.sigmoid(self.decode_logits(z, training=False))

    def discriminate(self, z: Any, labels: Any = None, training: bool | None = None) -> Any:
        """One "drawn from the prior" logit per code (given its class, with a mixture prior)."""
        if self.conditional:
            z = ops.concatenate([z, ops.one_hot(ops.reshape(ops.cast(labels, "int32"), (-1,)), self.num_classes)],
                                axis=-1)
        return self.discriminator(z, training=training)

    def sample_prior(self, count: Any, labels: Any = None) -> Any:
        """``count`` prior draws (of the components ``labels``, random ones if ``None``, with a mixture)."""
        eps = keras.random.normal(_shape(count, self.latent_dim), seed=self.seed_generator)
        if not self.conditional:
            return eps
        if labels is None:
            labels = self.sample_components(count)
        centers = ops.take(ops.convert_to_tensor(self.means), ops.reshape(ops.cast(labels, "int32"), (-1,)), axis=0)
        return centers + self.mixture_std * eps

    def sample_components(self, count: Any) -> Any:
        return keras.random.randint(_shape(count), 0, self.num_classes, seed=self.seed_generator)

    def call(self, inputs: Any, training: bool | None = None) -> dict[str, Any]:
        z = self.encode(image_input(inputs, self.image_key, self.shape), training)
        logits = self.decode_logits(z, training)
        return {"z": z, "reconstruction": ops.sigmoid(logits), "logits": logits}

    # ------------------------------------------------------------ training

    def _batch(self, data: Any) -> tuple[Any, Any]:
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.conditional and y is None:
            raise ValueError("an AAE with a mixture prior trains on (features, label) batches; the label is missing")
        return image_input(x, self.image_key, self.shape), y

    def reconstruction_loss(self, images: Any, logits: Any) -> Any:
        return ops.mean(bernoulli_nll(images, logits))

    def discriminator_loss(self, prior_logits: Any, code_logits: Any) -> Any:
        return _bce_with_logits(prior_logits, 1.0) + _bce_with_logits(code_logits, 0.0)

    def generator_loss(self, code_logits: Any) -> Any:
        return _bce_with_logits(code_logits, 1.0)

    def _result(self, reconstruction: Any, d_loss: Any, g_loss: Any) -> dict[str, Any]:
        self.reconstruction_tracker.update_state(reconstruction)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {tracker.name: tracker.result()
                for tracker in (self.reconstruction_tracker, self.d_loss_tracker, self.g_loss_tracker)}

    def train_batch(self, data: Any) -> dict[str, Any]:
        images, labels = self._batch(data)
        batch_size = ops.shape(images)[0]
        # 1. Reconstruction phase: encoder and decoder.
        reconstruction = self.gradient_step("ae_optimizer", lambda: self.reconstruction_loss(
            images, self.decode_logits(self.encode(images, True), True)))
        # 2a. Regularisation phase, discriminator: prior draws are "real", codes "fake".
        codes = self.encode(images, True)
        d_loss = self.gradient_step("d_optimizer", lambda: self.discriminator_loss(
            self.discriminate(self.sample_prior(batch_size, labels), labels, True),
            self.discriminate(codes, labels, True)))
        # 2b. Regularisation phase, encoder as the generator.
        g_loss = self.gradient_step("g_optimizer", lambda: self.generator_loss(
            self.discriminate(self.encode(images, True), labels, True)))
        return self._result(reconstruction, d_loss, g_loss)

    def test_batch(self, data: Any) -> dict[str, Any]:
        images, labels = self._batch(data)
        codes = self.encode(images, False)
        reconstruction = self.reconstruction_loss(images, self.decode_logits(codes, False))
        code_logits = self.discriminate(codes, labels, False)
        prior_logits = self.discriminate(self.sample_prior(ops.shape(images)[0], labels), labels, False)
        return self._result(reconstruction, self.discriminator_loss(prior_logits, code_logits),
                            self.generator_loss(code_logits))


@dataclasses.dataclass(kw_only=True)
class AaeHParams(ImageHParams):
    """``learning_rate`` is the reconstruction phase's; ``d_learning_rate`` and ``g_learning_rate``
    the regularisation phase's (discriminator, encoder as generator), Adam with ``beta_1``."""

    latent_dim: int = 8
    filters: tuple[int, ...] = (32, 64)
    discriminator_units: tuple[int, ...] = (128, 128)
    dropout: float = 0.0
    prior: str = "gaussian"
    mixture_radius: float = 3.0
    mixture_std: float = 0.5
    # One rate for the three phases: a faster reconstruction phase (2e-3 vs 5e-4) outruns the
    # regularisation and the codes spread far beyond the prior (std ~5 after 400 steps on digits).
    learning_rate: float = 1e-3
    d_learning_rate: float = 1e-3
    g_learning_rate: float = 1e-3
    beta_1: float = 0.5
    epochs: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("prior", self.prior, PRIORS)
        for name in ("mixture_radius", "mixture_std", "d_learning_rate", "g_learning_rate"):
            check_positive(name, getattr(self, name))
        if not self.discriminator_units or not all(isinstance(u, int) and u > 0 for u in self.discriminator_units):
            raise ValueError(f"discriminator_units must be positive integers, got {self.discriminator_units!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")


@registry.register
class Aae(GenerativeFamily):
    name = "aae"
    hparams_cls = AaeHParams
    main_signature = "encode"
    signature_roles = types.MappingProxyType({"encode": ENCODE, "decode": DECODE, "sample": SAMPLE})

    def build_model(self, hparams: AaeHParams, data: DataSpec, shape: tuple[int, int, int]) -> keras.Model:
        return AdversarialAutoencoder(
            shape, hparams.latent_dim, hparams.filters, hparams.discriminator_units, hparams.dropout,
            hparams.prior, data.num_classes if hparams.prior == "mixture" else None, hparams.mixture_radius,
            hparams.mixture_std, hparams.image_key, hparams.seed, name=self.name)

    def create_weights(self, model: AdversarialAutoencoder, hparams: AaeHParams,
                       shape: tuple[int, int, int]) -> None:
        z = model({hparams.image_key: ops.zeros((1, *shape))})["z"]
        model.discriminate(z, ops.zeros((1,), "int32") if model.conditional else None)

    def compile(self, model: AdversarialAutoencoder, hparams: AaeHParams) -> None:
        model.compile(ae_optimizer=make_optimizer(hparams),
                      d_optimizer=make_optimizer(hparams, hparams.d_learning_rate, beta_1=hparams.beta_1),
                      g_optimizer=make_optimizer(hparams, hparams.g_learning_rate, beta_1=hparams.beta_1))

    def learning_rates(self, model: AdversarialAutoencoder, hparams: AaeHParams) -> dict[str, tuple]:
        return {"learning_rate": (model.ae_optimizer, hparams.learning_rate),
                "d_learning_rate": (model.d_optimizer, hparams.d_learning_rate),
                "g_learning_rate": (model.g_optimizer, hparams.g_learning_rate)}

    def signatures(self, model: AdversarialAutoencoder, hparams: AaeHParams,
                   data: DataSpec) -> dict[str, Signature]:
        def encode(features: Mapping[str, Any]) -> dict[str, Any]:
            return {"z": model.encode(image_input(features, model.image_key, model.shape), False)}

        def decode(inputs: Mapping[str, Any]) -> dict[str, Any]:
            return {"image": model.decode(inputs["z"])}

        def sample(inputs: Mapping[str, Any]) -> dict[str, Any]:
            z = model.sample_prior(ops.cast(inputs["count"], "int32"))
            return {"image": model.decode(z), "z": z}

        return {
            "encode": Signature(encode),
            "decode": Signature(decode, {"z": ((None, model.latent_dim), "float32")}),
            "sample": Signature(sample, {"count": ((), "int32")}),
        }

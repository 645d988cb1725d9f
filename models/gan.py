"""Deep convolutional GAN, its conditional variant and the vanilla (MLP) GAN,
as the notes define them.

The generator maps a latent ``z ~ N(0, I)`` to an image through strided
transposed convolutions with batch norm; the discriminator is a strided
convolutional classifier (LeakyReLU, no pooling) that outputs one logit for
"real". They play the min-max game with one optimizer each: the discriminator
minimises ``BCE(D(x), 1) + BCE(D(G(z)), 0)``, the generator the non-saturating
``BCE(D(G(z)), 1)``.

The conditional GAN (``conditional_gan``) feeds the class label to both
networks: one-hot next to ``z`` for the generator, one-hot planes next to the
image channels for the discriminator, so it generates a requested class.

The vanilla GAN (``vanilla_gan``) plays the same game with the same
:class:`GenerativeAdversarialNetwork` (one training step for every GAN) but
multilayer perceptrons for both networks (:func:`mlp_generator`,
:func:`mlp_discriminator`): ``z`` -> hidden LeakyReLU layers -> sigmoid pixels
reshaped to the image; flattened image -> hidden LeakyReLU layers with
dropout -> one logit.

Keras 3's ``fit`` steps one optimizer; the GAN's step (one update of each
network with its own optimizer) is written once,
:meth:`GenerativeAdversarialNetwork.train_batch`, on
:class:`models.common.MultiOptimizerModel`, whose
:meth:`~models.common.MultiOptimizerModel.gradient_step` is the one
backend-specific part (a ``tf.GradientTape`` under TensorFlow, as the
pipelines train; ``jax.value_and_grad`` in Keras's stateless JAX step). The
losses, sampling and networks are backend-neutral and shared with
``test_batch``.

Serving signature ``generate``: ``z`` (and ``label`` for the conditional GAN)
in, ``image`` out.

Example:

>>> from models import registry
>>> family = registry.get("conditional_gan")
>>> data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)
>>> model = family.build(family.hparams({"latent_dim": 4}), data)
>>> tuple(model.generate(keras.ops.zeros((2, 4)), keras.ops.array([3, 7])).shape)
(2, 8, 8, 1)
>>> mlp = registry.get("vanilla_gan")
>>> vanilla = mlp.build(mlp.hparams({"latent_dim": 4, "hidden_units": (16,)}), data)
>>> tuple(vanilla.discriminate(vanilla.generate(keras.ops.zeros((2, 4)))).shape)
(2, 1)
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping
from typing import Any

import keras
from keras import ops

from models import registry
from models.base import GENERATE, DataSpec, FeatureInfo, GenerativeFamily, Signature  # noqa: F401
from models.common import MultiOptimizerModel, image_input, make_optimizer
from models.features.image import IMAGE
from models.hparams import ImageHParams
from models.layers.image_coder import ImageDecoder, ImageEncoder


def _bce_with_logits(logits: Any, target: float) -> Any:
    return ops.mean(ops.binary_crossentropy(ops.full_like(logits, target), logits, from_logits=True))


def mlp_generator(shape: tuple[int, int, int], hidden_units: tuple[int, ...] = (128, 256),
                  name: str = "generator") -> keras.Sequential:
    """``z`` -> Dense LeakyReLU layers -> sigmoid pixels reshaped to ``shape``."""
    return keras.Sequential([*(keras.layers.Dense(units, activation="leaky_relu") for units in hidden_units),
                             keras.layers.Dense(math.prod(shape), activation="sigmoid"),
                             keras.layers.Reshape(tuple(shape))], name=name)


def mlp_discriminator(hidden_units: tuple[int, ...] = (256, 128), dropout: float = 0.3,
                      name: str = "discriminator") -> keras.Sequential:
    """Flattened image -> Dense LeakyReLU layers (each followed by dropout) -> one logit."""
    layers: list[keras.layers.Layer] = [keras.layers.Flatten()]
    for units in hidden_units:
        layers += [keras.layers.Dense(units, activation="leaky_relu"), keras.layers.Dropout(dropout)]
    return keras.Sequential([*layers, keras.layers.Dense(1)], name=name)


class GenerativeAdversarialNetwork(MultiOptimizerModel):
    """Generator and discriminator trained adversarially with two optimizers.

    Args:
        shape: image shape (height, width, channels).
        latent_dim: size of ``z``.
        num_classes: number of classes for a conditional GAN, ``None`` otherwise.
        generator_filters / discriminator_filters: channels per up/downsampling.
        real_label: target for real images in the discriminator loss (0.9 is
            one-sided label smoothing).
        generator / discriminator: the networks, replacing the DCGAN ones
            built from the filters (the vanilla GAN passes MLPs here).
    """

    def __init__(self, shape: tuple[int, int, int], latent_dim: int = 32, num_classes: int | None = None,
                 generator_filters: tuple[int, ...] = (128, 64), discriminator_filters: tuple[int, ...] = (64, 128),
                 real_label: float = 0.9, image_key: str = IMAGE, seed: int | None = None,
                 generator: keras.layers.Layer | None = None, discriminator: keras.layers.Layer | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shape, self.latent_dim, self.num_classes = tuple(shape), latent_dim, num_classes
        self.real_label, self.image_key = real_label, image_key
        self.generator = generator or ImageDecoder(self.shape, generator_filters, batch_norm=True, name="generator")
        self.discriminator = discriminator or ImageEncoder(1, discriminator_filters, activation="leaky_relu",
                                                           name="discriminator")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    def compile(self, d_optimizer: keras.optimizers.Optimizer, g_optimizer: keras.optimizers.Optimizer,
                **kwargs: Any) -> None:
        super().compile(optimizers={"d_optimizer": d_optimizer, "g_optimizer": g_optimizer}, **kwargs)

    def optimizer_variables(self) -> dict[str, list[Any]]:
        return {"d_optimizer": self.discriminator.trainable_weights, "g_optimizer": self.generator.trainable_weights}

    def _one_hot(self, labels: Any) -> Any:
        return ops.one_hot(ops.reshape(ops.cast(labels, "int32"), (-1,)), self.num_classes)

    def generate(self, z: Any, labels: Any = None, training: bool | None = None) -> Any:
        """Images in [0, 1] for latents ``z`` (and class ``labels`` if conditional)."""
        if self.conditional:
            if labels is None:
                raise ValueError("a conditional GAN needs the labels of the images to generate")
            z = ops.concatenate([z, self._one_hot(labels)], axis=-1)
        return self.generator(z, training=training)

    def discriminate(self, images: Any, labels: Any = None, training: bool | None = None) -> Any:
        """One "real" logit per image."""
        if self.conditional:
            planes = self._one_hot(labels)[:, None, None, :] * ops.ones_like(images[..., :1])
            images = ops.concatenate([images, planes], axis=-1)
        return self.discriminator(images, training=training)

    def sample_latent(self, batch_size: Any) -> Any:
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    def call(self, inputs: Mapping[str, Any], training: bool | None = None) -> Any:
        """``{"z": ..., "label": ...}`` -> generated images."""
        return self.generate(inputs["z"], inputs.get("label"), training=training)

    def _batch(self, data: Any) -> tuple[Any, Any]:
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self.conditional and y is None:
            raise ValueError("a conditional GAN trains on (features, label) batches; the label is missing")
        return image_input(x, self.image_key, self.shape), y

    def discriminator_loss(self, real_logits: Any, fake_logits: Any) -> Any:
        return _bce_with_logits(real_logits, self.real_label) + _bce_with_logits(fake_logits, 0.0)

    def generator_loss(self, fake_logits: Any) -> Any:
        return _bce_with_logits(fake_logits, 1.0)

    def _result(self, d_loss: Any, g_loss: Any) -> dict[str, Any]:
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {"d_loss": self.d_loss_tracker.result(), "g_loss": self.g_loss_tracker.result()}

    def train_batch(self, data: Any) -> dict[str, Any]:
        real, labels = self._batch(data)
        batch_size = ops.shape(real)[0]
        fake = self.generate(self.sample_latent(batch_size), labels, training=True)
        d_loss = self.gradient_step("d_optimizer", lambda: self.discriminator_loss(
            self.discriminate(real, labels, training=True), self.discriminate(fake, labels, training=True)))

        def generator_loss() -> Any:
            fake = self.generate(self.sample_latent(batch_size), labels, training=True)
            return self.generator_loss(self.discriminate(fake, labels, training=True))

        g_loss = self.gradient_step("g_optimizer", generator_loss)
        return self._result(d_loss, g_loss)

    def test_batch(self, data: Any) -> dict[str, Any]:
        real, labels = self._batch(data)
        fake = self.generate(self.sample_latent(ops.shape(real)[0]), labels, training=False)
        fake_logits = self.discriminate(fake, labels, training=False)
        d_loss = self.discriminator_loss(self.discriminate(real, labels, training=False), fake_logits)
        return self._result(d_loss, self.generator_loss(fake_logits))


@dataclasses.dataclass(kw_only=True)
class GanHParams(ImageHParams):
    latent_dim: int = 32
    generator_filters: tuple[int, ...] = (128, 64)
    discriminator_filters: tuple[int, ...] = (64, 128)
    real_label: float = 0.9
    learning_rate: float = 2e-4           # both networks', unless set apart below
    d_learning_rate: float | None = None  # the discriminator's (default: learning_rate)
    g_learning_rate: float | None = None  # the generator's (default: learning_rate)
    beta_1: float = 0.5
    epochs: int = 150

    def rates(self) -> tuple[float, float]:
        """The discriminator's and the generator's learning rates."""
        return (self.learning_rate if self.d_learning_rate is None else self.d_learning_rate,
                self.learning_rate if self.g_learning_rate is None else self.g_learning_rate)


@registry.register
class Gan(GenerativeFamily):
    name = "gan"
    hparams_cls = GanHParams
    main_signature = "generate"
    signature_roles = types.MappingProxyType({"generate": GENERATE})
    conditional = False

    def build_model(self, hparams: GanHParams, data: DataSpec, shape: tuple[int, int, int]) -> keras.Model:
        num_classes = None
        if self.conditional:
            if data.num_classes is None:
                raise ValueError(f"'{self.name}' needs labelled data (DataSpec.num_classes); got None")
            num_classes = data.num_classes
        return GenerativeAdversarialNetwork(
            shape, hparams.latent_dim, num_classes, hparams.generator_filters, hparams.discriminator_filters,
            hparams.real_label, hparams.image_key, hparams.seed, *self.networks(hparams, shape), name=self.name)

    def networks(self, hparams: GanHParams, shape: tuple[int, int, int]) -> tuple[Any, Any]:
        """The generator and discriminator; ``None`` for the DCGAN's own."""
        return None, None

    def create_weights(self, model: GenerativeAdversarialNetwork, hparams: GanHParams,
                       shape: tuple[int, int, int]) -> None:
        labels = ops.zeros((1,), "int32") if self.conditional else None
        model.discriminate(model.generate(ops.zeros((1, hparams.latent_dim)), labels), labels)
        model.built = True  # its networks' weights exist (else fit under JAX builds it by a call on a batch)

    def compile(self, model: GenerativeAdversarialNetwork, hparams: GanHParams) -> None:
        d_rate, g_rate = hparams.rates()
        model.compile(d_optimizer=make_optimizer(hparams, d_rate, beta_1=hparams.beta_1),
                      g_optimizer=make_optimizer(hparams, g_rate, beta_1=hparams.beta_1))

    def learning_rates(self, model: GenerativeAdversarialNetwork, hparams: GanHParams) -> dict[str, tuple]:
        d_rate, g_rate = hparams.rates()
        return {"d_learning_rate": (model.d_optimizer, d_rate), "g_learning_rate": (model.g_optimizer, g_rate)}

    def signatures(self, model: GenerativeAdversarialNetwork, hparams: GanHParams,
                   data: DataSpec) -> dict[str, Signature]:
        inputs = {"z": ((None, model.latent_dim), "float32")}
        if model.conditional:
            inputs["label"] = ((None,), "int64")

        def generate(batch: Mapping[str, Any]) -> dict[str, Any]:
            return {"image": model.generate(batch["z"], batch.get("label"), training=False)}

        return {"generate": Signature(generate, inputs)}


@registry.register
class ConditionalGan(Gan):
    name = "conditional_gan"
    conditional = True


@dataclasses.dataclass(kw_only=True)
class VanillaGanHParams(GanHParams):
    """The GAN's, with MLP widths: the generator's hidden layers in order, the
    discriminator's the same widths reversed; ``dropout`` after each of the latter.
    (``generator_filters``/``discriminator_filters`` are not used.)"""

    hidden_units: tuple[int, ...] = (128, 256)
    dropout: float = 0.3
    learning_rate: float = 1e-3  # sklearn digits, 150 epochs: FID 15.8 (2e-4: 76.7; DCGAN 33.9)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.hidden_units or not all(isinstance(u, int) and u > 0 for u in self.hidden_units):
            raise ValueError(f"hidden_units must be positive integers, got {self.hidden_units!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")


@registry.register
class VanillaGan(Gan):
    """The notes' vanilla GAN: MLP generator and discriminator, the DCGAN's training step."""

    name = "vanilla_gan"
    hparams_cls = VanillaGanHParams

    def networks(self, hparams: VanillaGanHParams, shape: tuple[int, int, int]) -> tuple[Any, Any]:
        units = tuple(hparams.hidden_units)
        return mlp_generator(shape, units), mlp_discriminator(units[::-1], hparams.dropout)

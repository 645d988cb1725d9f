"""SRGAN: super-resolution by a residual generator and an adversarial discriminator, as the notes define it.

The generator (Ledig et al. 2017) maps a low-resolution image of any size
to the image at ``factor`` x (2 or 4): a convolution with parametric ReLU,
``residual_blocks`` :class:`~models.layers.super_resolution.ResidualBlock`\\ s
(conv - PReLU - conv, plus the identity; batch norm optional), a long skip
over them, then one ``conv -> PixelShuffle(2) -> PReLU`` stage per factor of
2 (the convolution ICNR-initialised, against checkerboard artifacts) and a
last convolution to RGB. With ``skip="bicubic"`` (the default) that output
is added to the bicubic upsampling of the input (global residual
learning, as VDSR and EDSR do; the last convolution starts at zero, so a
fresh generator *is* bicubic); ``skip="none"`` is the paper's plain
generator with a sigmoid output. The discriminator is a strided
convolutional classifier with leaky ReLU and one "real" logit.

Loss: the generator minimises the *content loss*, the pixel MSE to the true
high-resolution patch, plus ``adversarial_weight`` times the non-saturating
adversarial loss ``BCE(D(G(lr)), 1)``; the discriminator minimises
``BCE(D(hr), real_label) + BCE(D(G(lr)), 0)``. The paper's VGG feature
(perceptual) content loss needs ImageNet VGG19 weights, which cannot be
downloaded here (no network), so the content loss is pixel MSE only.
``adversarial_weight=0`` trains the same generator on the content loss alone
(SRResNet), the comparison the benchmark makes. ``pretrain_epochs`` of
content loss come first, as SRGAN starts from a trained SRResNet.

As for the GANs in ``models/gan.py``, the two-optimizer step
(:meth:`SuperResolutionGan.train_batch`) is written once on
:class:`models.common.MultiOptimizerModel`, whose ``gradient_step`` is the one
backend-specific part (TensorFlow and JAX); the networks and losses are
backend-neutral.

Serving signature ``upscale``: ``image`` (float32 ``(batch, h, w, 3)`` in
[0, 1], any ``h`` and ``w``) in, ``image`` (``(batch, h * factor, w *
factor, 3)``, clipped to [0, 1]) out.

Example:

>>> from models import registry
>>> family = registry.get("srgan")
>>> data = DataSpec({"high_res": FeatureInfo((8, 8, 3), "float32"), "low_res": FeatureInfo((4, 4, 3), "float32")})
>>> model = family.build(family.hparams({"filters": 8, "residual_blocks": 1}), data)
>>> tuple(model.upscale(keras.ops.zeros((1, 5, 3, 3))).shape)
(1, 10, 6, 3)
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping, Sequence
from typing import Any

import keras
from keras import ops

from models import registry
from models.base import SUPER_RESOLUTION, UPSCALE, DataSpec, FeatureInfo, ModelFamily, Signature  # noqa: F401
from models.common import MultiOptimizerModel, check_choice, make_optimizer
from models.features import feature_shape
from models.features import super_resolution as sr
from models.hparams import HParams, check_positive_int
from models.layers.super_resolution import ICNR, PixelShuffle, ResidualBlock, ResizeByFactor

FACTORS = (2, 4)
SKIPS = ("bicubic", "none")
CHANNELS = 3


def _bce_with_logits(logits: Any, target: float) -> Any:
    return ops.mean(ops.binary_crossentropy(ops.full_like(logits, target), logits, from_logits=True))


def psnr_from_mse(mse: Any) -> Any:
    """Peak signal-to-noise ratio (dB) of images in [0, 1] from their mean squared error.

    >>> round(float(psnr_from_mse(0.01)), 6)
    20.0
    """
    return -10.0 * ops.log(ops.maximum(ops.convert_to_tensor(mse, "float32"), 1e-12)) / math.log(10.0)


def sr_generator(factor: int = 2, filters: int = 32, residual_blocks: int = 4, kernel_size: int = 3,
                 outer_kernel_size: int = 5, batch_norm: bool = False, skip: str = "bicubic",
                 channels: int = CHANNELS, name: str = "generator") -> keras.Model:
    """SRGAN's generator on ``(batch, None, None, channels)`` images (see the module docstring)."""
    if factor not in FACTORS:
        raise ValueError(f"factor must be one of {FACTORS}, got {factor!r}")
    check_choice("skip", skip, SKIPS)
    low = keras.Input((None, None, channels), name="low_res")
    x = keras.layers.Conv2D(filters, outer_kernel_size, padding="same", name="head")(low)
    head = x = keras.layers.PReLU(shared_axes=[1, 2], name="head_prelu")(x)
    for i in range(residual_blocks):
        x = ResidualBlock(filters, kernel_size, batch_norm, name=f"residual_{i}")(x)
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", name="body_out")(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(name="body_bn")(x)
    x = keras.layers.Add(name="long_skip")([head, x])
    for i in range(int(math.log2(factor))):
        x = keras.layers.Conv2D(filters * 4, kernel_size, padding="same", kernel_initializer=ICNR(2),
                                name=f"up_{i}_conv")(x)
        x = PixelShuffle(2, name=f"up_{i}_shuffle")(x)
        x = keras.layers.PReLU(shared_axes=[1, 2], name=f"up_{i}_prelu")(x)
    if skip == "bicubic":
        residual = keras.layers.Conv2D(channels, outer_kernel_size, padding="same", kernel_initializer="zeros",
                                       name="tail")(x)
        out = keras.layers.Add(name="bicubic_skip")([ResizeByFactor(factor, "bicubic", name="bicubic")(low),
                                                     residual])
    else:
        out = keras.layers.Conv2D(channels, outer_kernel_size, padding="same", activation="sigmoid", name="tail")(x)
    return keras.Model(low, out, name=name)


def sr_discriminator(shape: Sequence[int], filters: Sequence[int] = (32, 64), dense_units: int = 128,
                     name: str = "discriminator") -> keras.Sequential:
    """SRGAN's discriminator: per width, conv (stride 1) and conv (stride 2), each with leaky ReLU
    (0.2); then a dense leaky-ReLU layer and one "real" logit."""
    layers: list[keras.layers.Layer] = [keras.Input(tuple(shape))]
    for i, width in enumerate(filters):
        for stride in (1, 2):
            layers += [keras.layers.Conv2D(width, 3, strides=stride, padding="same", name=f"conv_{i}_{stride}"),
                       keras.layers.LeakyReLU(0.2)]
    layers += [keras.layers.Flatten(), keras.layers.Dense(dense_units), keras.layers.LeakyReLU(0.2),
               keras.layers.Dense(1, name="logit")]
    return keras.Sequential(layers, name=name)


class SuperResolutionGan(MultiOptimizerModel):
    """Generator and discriminator of SRGAN trained with two optimizers (see the module docstring).

    Args:
        generator / discriminator: the networks (:func:`sr_generator`, :func:`sr_discriminator`).
        factor: the generator's upscaling factor.
        adversarial_weight: weight of the adversarial term in the generator's loss (0: content loss only,
            the discriminator is then never trained).
        real_label: target for real patches in the discriminator loss (0.9: one-sided label smoothing).
        high_res_key / low_res_key: the features of a training batch.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, factor: int,
                 adversarial_weight: float = 1e-3, real_label: float = 0.9, high_res_key: str = sr.HIGH_RES,
                 low_res_key: str = sr.LOW_RES, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.factor, self.adversarial_weight, self.real_label = factor, float(adversarial_weight), real_label
        self.high_res_key, self.low_res_key = high_res_key, low_res_key
        # 0 while pretraining on the content loss alone, 1 in the adversarial game.
        self.adversarial_scale = keras.Variable(1.0, trainable=False, name="adversarial_scale")
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("content_loss", "adversarial_loss", "d_loss", "psnr")}

    @property
    def adversarial(self) -> bool:
        return self.adversarial_weight > 0

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    def compile(self, d_optimizer: keras.optimizers.Optimizer, g_optimizer: keras.optimizers.Optimizer,
                **kwargs: Any) -> None:
        super().compile(optimizers={"d_optimizer": d_optimizer, "g_optimizer": g_optimizer}, **kwargs)

    def optimizer_variables(self) -> dict[str, list[Any]]:
        return {"d_optimizer": self.discriminator.trainable_weights, "g_optimizer": self.generator.trainable_weights}

    def upscale(self, low_res: Any, training: bool | None = None) -> Any:
        """The image at ``factor`` x (unclipped: the losses see what the generator makes)."""
        return self.generator(low_res, training=training)

    def call(self, inputs: Mapping[str, Any], training: bool | None = None) -> Any:
        """``{low_res_key: images}`` (or the images) -> upscaled images."""
        low = inputs[self.low_res_key] if isinstance(inputs, Mapping) else inputs
        return self.upscale(low, training=training)

    def _batch(self, data: Any) -> tuple[Any, Any]:
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        if not isinstance(x, Mapping) or self.high_res_key not in x or self.low_res_key not in x:
            raise ValueError(f"SRGAN trains on batches of {{'{self.high_res_key}', '{self.low_res_key}'}}; "
                             f"got {sorted(x) if isinstance(x, Mapping) else type(x).__name__}")
        return ops.cast(x[self.high_res_key], "float32"), ops.cast(x[self.low_res_key], "float32")

    def content_loss(self, high_res: Any, upscaled: Any) -> Any:
        """Pixel mean squared error (the notes' content loss without the VGG features: see the module)."""
        return ops.mean(ops.square(upscaled - high_res))

    def discriminator_loss(self, real_logits: Any, fake_logits: Any) -> Any:
        return _bce_with_logits(real_logits, self.real_label) + _bce_with_logits(fake_logits, 0.0)

    def _result(self, content: Any, adversarial: Any, d_loss: Any) -> dict[str, Any]:
        for name, value in (("content_loss", content), ("adversarial_loss", adversarial), ("d_loss", d_loss),
                            ("psnr", psnr_from_mse(content))):
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_batch(self, data: Any) -> dict[str, Any]:
        high, low = self._batch(data)
        d_loss = ops.zeros(())
        if self.adversarial:
            fake = self.upscale(low, training=True)
            d_loss = self.gradient_step("d_optimizer", lambda: self.discriminator_loss(
                self.discriminator(high, training=True), self.discriminator(fake, training=True)))

        def generator_loss() -> tuple[Any, tuple[Any, Any]]:
            fake = self.upscale(low, training=True)
            content = self.content_loss(high, fake)
            adversarial = ops.zeros(())
            loss = content
            if self.adversarial:
                adversarial = _bce_with_logits(self.discriminator(fake, training=True), 1.0)
                loss = content + self.adversarial_scale * self.adversarial_weight * adversarial
            return loss, (content, adversarial)

        _, (content, adversarial) = self.gradient_step("g_optimizer", generator_loss, has_aux=True)
        return self._result(content, adversarial, d_loss)

    def test_batch(self, data: Any) -> dict[str, Any]:
        high, low = self._batch(data)
        fake = self.upscale(low, training=False)
        adversarial = d_loss = ops.zeros(())
        if self.adversarial:
            fake_logits = self.discriminator(fake, training=False)
            adversarial = _bce_with_logits(fake_logits, 1.0)
            d_loss = self.discriminator_loss(self.discriminator(high, training=False), fake_logits)
        return self._result(self.content_loss(high, fake), adversarial, d_loss)


@dataclasses.dataclass(kw_only=True)
class SrganHParams(HParams):
    """SRGAN's hyperparameters (see the module docstring).

    ``filters``/``residual_blocks``/``kernel_size``: the generator's body
    (the paper: 64, 16, 3); ``outer_kernel_size``: its first and last
    convolutions (the paper: 9); ``adversarial_weight``: 0 trains on the
    content loss alone; ``pretrain_epochs``: content-loss epochs before the
    adversarial ones (not counted in ``epochs``).
    """

    factor: int = 2
    # Measured on the held-out photograph (benchmarks/super_resolution.py): trained on one photograph, a
    # bigger generator (32 filters, 4 blocks) or more epochs (30) overfits it and falls below bicubic.
    filters: int = 16
    residual_blocks: int = 2
    kernel_size: int = 3
    outer_kernel_size: int = 5
    batch_norm: bool = False
    skip: str = "bicubic"
    discriminator_filters: tuple[int, ...] = (32, 64)
    # 1e-5 keeps the PSNR above bicubic's (+0.05 dB); 1e-4 costs 0.7 dB, 1e-3 (the paper's, beside VGG
    # features) 2.9 dB against the MSE-only generator.
    adversarial_weight: float = 1e-5
    real_label: float = 0.9
    pretrain_epochs: int = 10
    d_learning_rate: float | None = None  # default: learning_rate
    beta_1: float = 0.9
    epochs: int = 5
    batch_size: int = 16
    learning_rate: float = 1e-4
    lr_schedule: str | None = "cosine"
    high_res_key: str = sr.HIGH_RES
    low_res_key: str = sr.LOW_RES

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("factor", self.factor, FACTORS)
        check_choice("skip", self.skip, SKIPS)
        for name in ("filters", "kernel_size", "outer_kernel_size"):
            check_positive_int(name, getattr(self, name))
        if not isinstance(self.residual_blocks, int) or self.residual_blocks < 0:
            raise ValueError(f"residual_blocks must be an integer >= 0, got {self.residual_blocks!r}")
        if not isinstance(self.pretrain_epochs, int) or self.pretrain_epochs < 0:
            raise ValueError(f"pretrain_epochs must be an integer >= 0, got {self.pretrain_epochs!r}")
        if not isinstance(self.adversarial_weight, (int, float)) or not 0 <= self.adversarial_weight < math.inf:
            raise ValueError(f"adversarial_weight must be a finite number >= 0, got {self.adversarial_weight!r}")
        if not self.discriminator_filters or not all(isinstance(f, int) and f > 0
                                                     for f in self.discriminator_filters):
            raise ValueError(f"discriminator_filters must be positive integers, got {self.discriminator_filters!r}")

    def rates(self) -> tuple[float, float]:
        """The discriminator's and the generator's learning rates."""
        return (self.learning_rate if self.d_learning_rate is None else self.d_learning_rate, self.learning_rate)


@registry.register
class Srgan(ModelFamily):
    name = "srgan"
    hparams_cls = SrganHParams
    task = SUPER_RESOLUTION
    main_signature = "upscale"
    signature_roles = types.MappingProxyType({"upscale": UPSCALE})
    supports_jit_compile = False  # its bicubic skip: XLA on CPU has no ResizeBicubic

    def shapes(self, hparams: SrganHParams, data: DataSpec) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The high- and low-resolution patch shapes, checked against the factor."""
        high = feature_shape(data.features, hparams.high_res_key)
        low = feature_shape(data.features, hparams.low_res_key)
        if len(high) != 3 or len(low) != 3 or high[-1] != CHANNELS or low[-1] != CHANNELS:
            raise ValueError(f"SRGAN needs RGB images (H, W, {CHANNELS}); got {high} and {low}")
        if (high[0], high[1]) != (low[0] * hparams.factor, low[1] * hparams.factor):
            raise ValueError(f"'{hparams.high_res_key}' {high} is not '{hparams.low_res_key}' {low} "
                             f"times factor {hparams.factor}")
        return high, low

    def build(self, hparams: SrganHParams, data: DataSpec) -> keras.Model:
        high, low = self.shapes(hparams, data)
        generator = sr_generator(hparams.factor, hparams.filters, hparams.residual_blocks, hparams.kernel_size,
                                 hparams.outer_kernel_size, hparams.batch_norm, hparams.skip)
        discriminator = sr_discriminator(high, hparams.discriminator_filters)
        model = SuperResolutionGan(generator, discriminator, hparams.factor, hparams.adversarial_weight,
                                   hparams.real_label, hparams.high_res_key, hparams.low_res_key, name=self.name)
        model.discriminator(model.upscale(ops.zeros((1, *low))))
        model.built = True  # its networks' weights exist (else fit under JAX builds it by a call on a batch)
        d_rate, g_rate = hparams.rates()
        model.compile(d_optimizer=make_optimizer(hparams, d_rate, beta_1=hparams.beta_1),
                      g_optimizer=make_optimizer(hparams, g_rate, beta_1=hparams.beta_1))
        return model

    def learning_rates(self, model: SuperResolutionGan, hparams: SrganHParams) -> dict[str, tuple]:
        d_rate, g_rate = hparams.rates()
        return {"d_learning_rate": (model.d_optimizer, d_rate), "g_learning_rate": (model.g_optimizer, g_rate)}

    def train(self, model: SuperResolutionGan, hparams: SrganHParams, train_ds: Any, eval_ds: Any,
              callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict[str, list[float]]:
        """``pretrain_epochs`` on the content loss alone (when adversarial), then ``epochs`` of the game."""
        history: dict[str, list[float]] = {}
        if hparams.pretrain_epochs and model.adversarial:
            model.adversarial_scale.assign(0.0)
            pretrain = dataclasses.replace(hparams, epochs=hparams.pretrain_epochs, lr_schedule=None)
            history.update({f"pretrain_{k}": v for k, v in
                            self.fit(model, pretrain, train_ds, eval_ds, callbacks).items()})
            model.adversarial_scale.assign(1.0)
        history.update(self.fit(model, hparams, train_ds, eval_ds, callbacks))
        return history

    def signatures(self, model: SuperResolutionGan, hparams: SrganHParams, data: DataSpec) -> dict[str, Signature]:
        def upscale(batch: Mapping[str, Any]) -> dict[str, Any]:
            return {sr.UPSCALED: ops.clip(model.upscale(batch["image"], training=False), 0.0, 1.0)}

        return {"upscale": Signature(upscale, {"image": ((None, None, None, CHANNELS), "float32")})}

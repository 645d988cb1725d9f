"""Autoencoders, as the notes define them: an encoder to a bottleneck code and
a decoder trained to reconstruct the input.

Variants (``variant`` hyperparameter):

* ``undercomplete``: the code is smaller than the input; plain reconstruction.
* ``denoising``: the input is corrupted during training (Gaussian noise plus
  masking noise) and the target is the clean image.
* ``sparse``: an L1 penalty on the (ReLU) code activations, so few code units
  are active for any input.

The reconstruction error of an input is its anomaly score: inputs unlike the
training data reconstruct badly. Serving signatures: ``score`` (transformed
features -> ``reconstruction_error`` per example and the ``reconstruction``)
and ``encode`` (-> ``code``).

Example:

>>> from models import registry
>>> family = registry.get("autoencoder")
>>> data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")})
>>> model = family.build(family.hparams({"variant": "denoising"}), data)
>>> sorted(model({"image": keras.ops.zeros((3, 8, 8, 1))}))
['code', 'reconstruction']
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

import keras
from keras import ops

from models import registry
from models.base import ENCODE, SCORE, DataSpec, FeatureInfo, GenerativeFamily, Signature  # noqa: F401
from models.common import image_input
from models.features.image import IMAGE
from models.hparams import ImageHParams
from models.layers.image_coder import ImageDecoder, ImageEncoder

VARIANTS = ("undercomplete", "denoising", "sparse")


def reconstruction_error(images: Any, reconstruction: Any) -> Any:
    """Mean squared error per example: the anomaly score."""
    squared = ops.square(ops.reshape(images - reconstruction, (ops.shape(images)[0], -1)))
    return ops.mean(squared, axis=-1)


class Autoencoder(keras.Model):
    """Image autoencoder; ``call`` returns ``reconstruction`` and ``code``."""

    def __init__(self, shape: tuple[int, int, int], code_dim: int = 16, variant: str = "undercomplete",
                 filters: tuple[int, ...] = (32, 64), noise_stddev: float = 0.2, mask_rate: float = 0.2,
                 sparsity_weight: float = 1e-3, image_key: str = IMAGE, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"unknown autoencoder variant {variant!r}; choices: {', '.join(VARIANTS)}")
        self.shape, self.code_dim, self.variant, self.image_key = tuple(shape), code_dim, variant, image_key
        self.noise_stddev, self.mask_rate, self.sparsity_weight = noise_stddev, mask_rate, sparsity_weight
        code_activation = "relu" if variant == "sparse" else None
        self.encoder = ImageEncoder(code_dim, filters, output_activation=code_activation, name="encoder")
        self.decoder = ImageDecoder(self.shape, tuple(reversed(filters)), name="decoder")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_error")

    def corrupt(self, images: Any) -> Any:
        """Gaussian noise plus masking noise (pixels set to 0), clipped to [0, 1]."""
        noisy = images + self.noise_stddev * keras.random.normal(ops.shape(images), seed=self.seed_generator)
        keep = keras.random.uniform(ops.shape(images), seed=self.seed_generator) >= self.mask_rate
        return ops.clip(noisy * ops.cast(keep, noisy.dtype), 0.0, 1.0)

    def call(self, inputs: Any, training: bool | None = None) -> dict[str, Any]:
        images = image_input(inputs, self.image_key, self.shape)
        if training and self.variant == "denoising":
            images = self.corrupt(images)
        code = self.encoder(images, training=training)
        return {"reconstruction": self.decoder(code, training=training), "code": code}

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        error = reconstruction_error(image_input(x, self.image_key, self.shape), y_pred["reconstruction"])
        self.reconstruction_tracker.update_state(error)
        loss = ops.mean(error)
        if self.variant == "sparse":
            loss = loss + self.sparsity_weight * ops.mean(ops.sum(ops.abs(y_pred["code"]), axis=-1))
        return loss


@dataclasses.dataclass(kw_only=True)
class AutoencoderHParams(ImageHParams):
    variant: str = "denoising"
    code_dim: int = 16
    filters: tuple[int, ...] = (32, 64)
    noise_stddev: float = 0.2
    mask_rate: float = 0.2
    sparsity_weight: float = 1e-3
    learning_rate: float = 2e-3
    epochs: int = 40


@registry.register
class AutoencoderFamily(GenerativeFamily):
    name = "autoencoder"
    hparams_cls = AutoencoderHParams
    main_signature = "score"
    signature_roles = types.MappingProxyType({"score": SCORE, "encode": ENCODE})

    def build_model(self, hparams: AutoencoderHParams, data: DataSpec, shape: tuple[int, int, int]) -> keras.Model:
        return Autoencoder(shape, hparams.code_dim, hparams.variant, hparams.filters, hparams.noise_stddev,
                           hparams.mask_rate, hparams.sparsity_weight, hparams.image_key, hparams.seed,
                           name=f"{hparams.variant}_autoencoder")

    def signatures(self, model: Autoencoder, hparams: AutoencoderHParams,
                   data: DataSpec) -> dict[str, Signature]:
        def score(features: Mapping[str, Any]) -> dict[str, Any]:
            images = image_input(features, model.image_key, model.shape)
            reconstruction = model(images, training=False)["reconstruction"]
            return {"reconstruction_error": reconstruction_error(images, reconstruction),
                    "reconstruction": reconstruction}

        def encode(features: Mapping[str, Any]) -> dict[str, Any]:
            images = image_input(features, model.image_key, model.shape)
            return {"code": model.encoder(images, training=False)}

        return {"score": Signature(score), "encode": Signature(encode)}

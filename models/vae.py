"""Variational autoencoder, as the notes define it.

The encoder maps an image to a diagonal Gaussian ``q(z|x) = N(mu, sigma^2)``;
a latent is drawn with the reparameterisation ``z = mu + sigma * eps`` (so the
gradient flows through the sample); the decoder maps ``z`` to Bernoulli pixel
means ``p(x|z)``. Training maximises the evidence lower bound, i.e. minimises

    -ELBO(x) = -E_q[log p(x|z)] + KL(q(z|x) || N(0, I))   (nats per image)

with the reconstruction term as the summed binary cross-entropy over pixels
and the KL term in closed form, both added in ``compute_loss``.

Serving signatures: ``encode`` (transformed features -> ``z_mean``,
``z_log_var``), ``decode`` (``z`` -> ``image``) and ``sample`` (a scalar
``count`` -> ``count`` images decoded from prior draws, and their ``z``).

Example:

>>> from models import registry
>>> family = registry.get("vae")
>>> data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")})
>>> model = family.build(family.hparams({"latent_dim": 2}), data)
>>> sorted(model({"image": keras.ops.zeros((3, 8, 8, 1))}))
['logits', 'reconstruction', 'z_log_var', 'z_mean']
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from typing import Any

import keras
from keras import ops

from models import registry
from models.base import DECODE, ENCODE, SAMPLE, DataSpec, FeatureInfo, GenerativeFamily, Signature  # noqa: F401
from models.common import image_input
from models.features.image import IMAGE
from models.hparams import ImageHParams
from models.layers.image_coder import ImageDecoder, ImageEncoder


def bernoulli_nll(images: Any, logits: Any) -> Any:
    """``-log p(x|z)`` summed over pixels, per image, for Bernoulli means ``sigmoid(logits)``."""
    per_pixel = ops.softplus(logits) - images * logits
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


def gaussian_kl(z_mean: Any, z_log_var: Any) -> Any:
    """``KL(N(mu, sigma^2) || N(0, I))`` per example."""
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


class VariationalAutoencoder(keras.Model):
    """Encoder, reparameterised Gaussian latent and Bernoulli decoder.

    ``call`` returns the reconstruction (pixel means and logits for one
    posterior draw) with the posterior parameters; ``compute_loss`` is the negative ELBO.
    """

    def __init__(self, shape: tuple[int, int, int], latent_dim: int = 8, filters: tuple[int, ...] = (32, 64),
                 image_key: str = IMAGE, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if latent_dim < 1:
            raise ValueError(f"latent_dim must be >= 1; got {latent_dim}")
        self.shape, self.latent_dim, self.image_key = tuple(shape), latent_dim, image_key
        self.encoder = ImageEncoder(2 * latent_dim, filters, name="encoder")
        self.decoder = ImageDecoder(self.shape, tuple(reversed(filters)), output_activation=None,
                                    name="decoder")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_nll")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def encode(self, images: Any, training: bool | None = None) -> tuple[Any, Any]:
        stats = self.encoder(images, training=training)
        return stats[:, :self.latent_dim], stats[:, self.latent_dim:]

    def decode_logits(self, z: Any, training: bool | None = None) -> Any:
        return self.decoder(z, training=training)

    def decode(self, z: Any) -> Any:
        return ops.sigmoid(self.decode_logits(z, training=False))

    def reparameterize(self, z_mean: Any, z_log_var: Any) -> Any:
        eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * eps

    def call(self, inputs: Any, training: bool | None = None) -> dict[str, Any]:
        z_mean, z_log_var = self.encode(image_input(inputs, self.image_key, self.shape), training)
        logits = self.decode_logits(self.reparameterize(z_mean, z_log_var), training)
        return {"reconstruction": ops.sigmoid(logits), "logits": logits, "z_mean": z_mean,
                "z_log_var": z_log_var}

    def negative_elbo(self, images: Any, outputs: Mapping[str, Any]) -> tuple[Any, Any]:
        """Per-example (reconstruction NLL, KL) of ``outputs = self(images)``."""
        return (bernoulli_nll(images, outputs["logits"]),
                gaussian_kl(outputs["z_mean"], outputs["z_log_var"]))

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        reconstruction, kl = self.negative_elbo(image_input(x, self.image_key, self.shape), y_pred)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return ops.mean(reconstruction + kl)


@dataclasses.dataclass(kw_only=True)
class VaeHParams(ImageHParams):
    latent_dim: int = 8
    filters: tuple[int, ...] = (32, 64)
    learning_rate: float = 2e-3
    epochs: int = 60


@registry.register
class Vae(GenerativeFamily):
    name = "vae"
    hparams_cls = VaeHParams
    main_signature = "encode"
    signature_roles = types.MappingProxyType({"encode": ENCODE, "decode": DECODE, "sample": SAMPLE})

    def build_model(self, hparams: VaeHParams, data: DataSpec, shape: tuple[int, int, int]) -> keras.Model:
        return VariationalAutoencoder(shape, hparams.latent_dim, hparams.filters, hparams.image_key,
                                      hparams.seed, name=self.name)

    def signatures(self, model: VariationalAutoencoder, hparams: VaeHParams,
                   data: DataSpec) -> dict[str, Signature]:
        def encode(features: Mapping[str, Any]) -> dict[str, Any]:
            z_mean, z_log_var = model.encode(image_input(features, model.image_key, model.shape), False)
            return {"z_mean": z_mean, "z_log_var": z_log_var}

        def decode(inputs: Mapping[str, Any]) -> dict[str, Any]:
            return {"image": model.decode(inputs["z"])}

        def sample(inputs: Mapping[str, Any]) -> dict[str, Any]:
            count = ops.cast(inputs["count"], "int32")
            z = keras.random.normal(ops.stack([count, model.latent_dim]), seed=model.seed_generator)
            return {"image": model.decode(z), "z": z}

        return {
            "encode": Signature(encode),
            "decode": Signature(decode, {"z": ((None, model.latent_dim), "float32")}),
            "sample": Signature(sample, {"count": ((), "int32")}),
        }

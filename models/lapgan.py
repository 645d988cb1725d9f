"""LAPGAN: a Laplacian pyramid of generative adversarial networks, as the notes define it.

An image is built from coarse to fine (Denton et al. 2015). With ``levels=3``
on 8x8 digits: a multilayer-perceptron generator makes a 2x2 image from the
first ``latent_dim`` entries of ``z``; each finer level (4x4, then 8x8)
upsamples the image so far (bilinear) and its :class:`~models.layers.laplacian_pyramid.LevelGenerator`,
conditioned on that upsampled image and on its own ``noise_dim`` entries of
``z``, generates the *residual* (the Laplacian-pyramid band) that is added to
it. Each level has its own discriminator: an MLP on the coarsest image, a
:class:`~models.layers.laplacian_pyramid.LevelDiscriminator` that judges a
residual given the upsampled coarser image at every other level.

Training: all levels in one step, but *independently*, as in the paper: each
level's generator is conditioned on the upsampled coarser image of the
*real* image's Gaussian pyramid (not on the generated one), and its
discriminator compares its residual with the real residual of the same
image. The networks of different levels share no weights, so the summed
(averaged) losses train each level as if alone. The step is the DCGAN's
(:class:`models.gan.GenerativeAdversarialNetwork`, inherited, not copied):
the "labels" it threads through ``generate`` and ``discriminate`` are, for
this model, the real images that condition every level.

Serving signature ``generate``: ``z`` (``latent_dim + (levels - 1) *
noise_dim`` standard-normal entries) in, ``image`` (the finest level, in
[0, 1]) out, built from coarse to fine inside the graph.

Example:

>>> from models import registry
>>> family = registry.get("lapgan")
>>> data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)
>>> model = family.build(family.hparams({"latent_dim": 4, "noise_dim": 2, "hidden_units": (8,)}), data)
>>> model.latent_dim, tuple(model.generate(keras.ops.zeros((3, 8))).shape)
(8, (3, 8, 8, 1))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from models import registry
from models.base import DataSpec, FeatureInfo  # noqa: F401
from models.features.image import IMAGE
from models.gan import Gan, GanHParams, GenerativeAdversarialNetwork, mlp_discriminator, mlp_generator
from models.hparams import check_positive_int
from models.layers.laplacian_pyramid import (
    LevelDiscriminator,
    LevelGenerator,
    gaussian_pyramid,
    laplacian_pyramid,
    pyramid_shapes,
    upsample,
)


class PyramidNetworks(keras.layers.Layer):
    """The networks of every level, coarsest first, as one layer (so the GAN step finds all the
    generators' or all the discriminators' weights in one place)."""

    def __init__(self, networks: Sequence[keras.layers.Layer], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.networks = list(networks)
        self.built = True  # no weights of its own; each network builds itself when called

    def call(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("call the networks of a level (PyramidNetworks.networks[k]), not the pyramid")


class LaplacianPyramidGan(GenerativeAdversarialNetwork):
    """A LAPGAN on images of ``shape`` (see the module docstring).

    Args:
        shape: the finest image's (height, width, channels).
        levels: pyramid levels (the sides are halved ``levels - 1`` times).
        latent_dim: noise of the coarsest generator; ``noise_dim``: of each finer one.
        hidden_units: the coarsest level's MLP generator (and, reversed, discriminator) widths.
        filters: convolution channels of the finer levels' networks.
        dropout: of the discriminators.
    """

    def __init__(self, shape: tuple[int, int, int], levels: int = 3, latent_dim: int = 16, noise_dim: int = 8,
                 hidden_units: tuple[int, ...] = (128, 128), filters: int = 32, dropout: float = 0.3,
                 real_label: float = 0.9, image_key: str = IMAGE, seed: int | None = None, **kwargs: Any) -> None:
        sizes = pyramid_shapes(shape, levels)
        generator = PyramidNetworks(
            [mlp_generator(sizes[0], tuple(hidden_units), name="generator_0"),
             *(LevelGenerator(filters, name=f"generator_{k}") for k in range(1, levels))], name="generator")
        discriminator = PyramidNetworks(
            [mlp_discriminator(tuple(hidden_units)[::-1], dropout, name="discriminator_0"),
             *(LevelDiscriminator(filters, dropout, name=f"discriminator_{k}") for k in range(1, levels))],
            name="discriminator")
        super().__init__(shape, latent_dim + (levels - 1) * noise_dim, None, real_label=real_label,
                         image_key=image_key, seed=seed, generator=generator, discriminator=discriminator, **kwargs)
        self.levels, self.coarse_dim, self.noise_dim, self.sizes = levels, latent_dim, noise_dim, sizes

    def _noise(self, z: Any) -> list[Any]:
        """``z`` split into each level's noise, coarsest first."""
        cuts = [0, self.coarse_dim] + [self.coarse_dim + k * self.noise_dim for k in range(1, self.levels)]
        return [z[:, start:end] for start, end in zip(cuts, cuts[1:])]

    def generate(self, z: Any, labels: Any = None, training: bool | None = None) -> Any:
        """Without ``labels``: images in [0, 1] built from coarse to fine from ``z``.

        With ``labels`` (in training: the *real* images that condition each level) the generated
        Laplacian pyramid ``[coarsest image, residual_1, ...]``, each level conditioned on the
        upsampled coarser image of the real images' Gaussian pyramid.
        """
        nets, noise = self.generator.networks, self._noise(z)
        if labels is not None:
            real = gaussian_pyramid(ops.cast(labels, "float32"), self.levels)
            return [nets[0](noise[0], training=training)] + [
                nets[k]([upsample(real[k - 1]), noise[k]], training=training) for k in range(1, self.levels)]
        image = nets[0](noise[0], training=training)
        for k in range(1, self.levels):
            coarse = upsample(image)
            image = ops.clip(coarse + nets[k]([coarse, noise[k]], training=training), 0.0, 1.0)
        return image

    def discriminate(self, images: Any, labels: Any = None, training: bool | None = None) -> Any:
        """One "real" logit per level ``(batch, levels)`` for a Laplacian pyramid (a list, from
        :meth:`generate` with ``labels``) or for images (their own pyramid), each residual judged
        given the upsampled coarser image of ``labels``' (the real images') Gaussian pyramid
        (of ``images``' own, without ``labels``)."""
        pyramid = images if isinstance(images, (list, tuple)) else laplacian_pyramid(images, self.levels)
        context = gaussian_pyramid(ops.cast(labels if labels is not None else images, "float32"), self.levels)
        nets = self.discriminator.networks
        logits = [nets[0](pyramid[0], training=training)] + [
            nets[k]([upsample(context[k - 1]), pyramid[k]], training=training) for k in range(1, self.levels)]
        return ops.concatenate(logits, axis=-1)

    def _batch(self, data: Any) -> tuple[Any, Any]:
        real, _ = super()._batch(data)
        return real, real  # the real images condition every level


@dataclasses.dataclass(kw_only=True)
class LapganHParams(GanHParams):
    """The GAN's (``generator_filters``/``discriminator_filters`` unused), and the pyramid's:
    ``levels``, ``latent_dim`` (coarsest level's noise), ``noise_dim`` (each finer level's),
    ``hidden_units`` (the coarsest level's MLPs), ``filters`` (finer levels' convolutions), ``dropout``."""

    levels: int = 3
    latent_dim: int = 16
    noise_dim: int = 8
    hidden_units: tuple[int, ...] = (128, 128)
    filters: int = 32
    dropout: float = 0.3
    learning_rate: float = 1e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("levels", "latent_dim", "noise_dim", "filters"):
            check_positive_int(name, getattr(self, name))
        if not self.hidden_units or not all(isinstance(u, int) and u > 0 for u in self.hidden_units):
            raise ValueError(f"hidden_units must be positive integers, got {self.hidden_units!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")


@registry.register
class Lapgan(Gan):
    """The notes' Laplacian pyramid GAN (``generate``), on the DCGAN's training step."""

    name = "lapgan"
    hparams_cls = LapganHParams

    def build_model(self, hparams: LapganHParams, data: DataSpec, shape: tuple[int, int, int]) -> keras.Model:
        return LaplacianPyramidGan(shape, hparams.levels, hparams.latent_dim, hparams.noise_dim,
                                   tuple(hparams.hidden_units), hparams.filters, hparams.dropout,
                                   hparams.real_label, hparams.image_key, hparams.seed, name=self.name)

    def create_weights(self, model: LaplacianPyramidGan, hparams: LapganHParams,
                       shape: tuple[int, int, int]) -> None:
        z, real = ops.zeros((1, model.latent_dim)), ops.zeros((1, *shape))
        model.discriminate(model.generate(z, real), real)
        model.generate(z)
        model.built = True  # as the GAN's

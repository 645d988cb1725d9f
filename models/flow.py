"""RealNVP normalizing flow, as the notes define it: an invertible map between
images and a standard Gaussian latent, trained by exact maximum likelihood.

Pixels are discrete, a flow's density is continuous, so the image is
*dequantised* first: raw pixel counts ``k`` in ``0..levels-1`` (``levels`` =
256, the unit of the data's pixels: the Transform divides by 255; sklearn's
digits only use 17 of the 256 levels, 0, 16, 32, ..., 255, but the
likelihood is still reported per 256-level pixel so it compares with other
8-bit image models) become ``y = (k + u) / levels`` with ``u ~ U[0, 1)`` per
pixel. ``y`` goes through the logit transform
``v = logit(alpha + (1 - 2 alpha) y)`` (its log-determinant is counted),
then through affine coupling layers (:mod:`models.layers.coupling`):
checkerboard masks of alternating parity on the image, a squeeze, then
channel masks of alternating parity. The change of variables gives the exact
density of ``y``:

    log p(y) = log N(z; 0, I) + log |det dz/dy|

and the discrete likelihood of the pixels is bounded by
``log P(k) >= E_u[log p(y)] - D log(levels)`` (Jensen), reported in bits per
dimension ``-log P(k) / (D ln 2)`` (lower is better; 8 = uniform over 256
levels). Training minimises it with one noise draw per image; evaluation and
the served ``log_prob`` average over a fixed bank of
``dequantization_samples`` noise images, so a served answer depends on the
image only.

Serving signatures: ``log_prob`` (transformed features -> ``bits_per_dim``
and ``log_likelihood``, nats per image, per example; role ``density``) and
``sample`` (a scalar ``count`` -> ``count`` images inverted from
``z ~ N(0, temperature^2 I)``, and their ``z``; role ``sample``).

Example:

>>> from models import registry
>>> family = registry.get("realnvp")
>>> data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")})
>>> model = family.build(family.hparams({"hidden": 8, "checkerboard_layers": 2, "channel_layers": 2}), data)
>>> out = model({"image": keras.ops.zeros((3, 8, 8, 1))})
>>> sorted(out), tuple(out["bits_per_dim"].shape)
(['bits_per_dim', 'log_likelihood'], (3,))
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
from models.base import DENSITY, SAMPLE, DataSpec, FeatureInfo, GenerativeFamily, Signature  # noqa: F401
from models.common import image_input
from models.features.image import IMAGE
from models.hparams import ImageHParams, check_positive, check_positive_int
from models.layers.coupling import AffineCoupling, Squeeze

LOG_2PI = math.log(2.0 * math.pi)


def standard_normal_log_prob(z: Any) -> Any:
    """``log N(z; 0, I)`` per example, summed over every axis but the batch."""
    flat = ops.reshape(z, (ops.shape(z)[0], -1))
    return -0.5 * ops.sum(ops.square(flat) + LOG_2PI, axis=-1)


class RealNVP(keras.Model):
    """Dequantisation, logit transform and affine couplings; see the module docstring.

    ``call`` returns per-example ``bits_per_dim`` and ``log_likelihood`` (nats
    per image of the discrete pixels): with one random dequantisation draw when
    training, averaged over the fixed noise bank otherwise.
    """

    def __init__(self, shape: tuple[int, int, int], checkerboard_layers: int = 4, channel_layers: int = 4,
                 hidden: int = 64, conv_layers: int = 2, levels: int = 256, alpha: float = 0.05,
                 dequantization_samples: int = 4, image_key: str = IMAGE, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shape, self.image_key = tuple(int(d) for d in shape), image_key
        self.levels, self.alpha = levels, alpha
        self.dimensions = math.prod(self.shape)
        height, width, channels = self.shape
        steps: list[keras.layers.Layer] = [
            AffineCoupling("checkerboard", i % 2, hidden, conv_layers, name=f"checkerboard_{i}")
            for i in range(checkerboard_layers)]
        self.latent_shape = self.shape
        if channel_layers:
            if height % 2 or width % 2:
                raise ValueError(f"channel couplings squeeze the image first: its sides must be even; got {shape}")
            steps.append(Squeeze(name="squeeze"))
            self.latent_shape = (height // 2, width // 2, 4 * channels)
            steps += [AffineCoupling("channel", i % 2, hidden, conv_layers, name=f"channel_{i}")
                      for i in range(channel_layers)]
        if not any(isinstance(step, AffineCoupling) for step in steps):
            raise ValueError("a RealNVP flow needs at least one coupling layer")
        self.steps = steps
        seed_value = 0 if seed is None else seed
        # The fixed dequantisation noise of evaluation and serving (a constant of the graph).
        self.noise_bank = np.random.default_rng(seed_value).uniform(
            size=(dequantization_samples, *self.shape)).astype(np.float32)
        self.seed_generator = keras.random.SeedGenerator(seed)

    # ------------------------------------------------------------ the bijection

    def transform(self, y: Any) -> tuple[Any, Any]:
        """Dequantised images ``y`` in (0, 1) -> latent ``z`` (``latent_shape``) and ``log |det dz/dy|``."""
        s = self.alpha + (1.0 - 2.0 * self.alpha) * y
        v = ops.log(s) - ops.log1p(-s)
        per_pixel = math.log(1.0 - 2.0 * self.alpha) - ops.log(s) - ops.log1p(-s)
        log_det = ops.sum(ops.reshape(per_pixel, (ops.shape(y)[0], -1)), axis=-1)
        for step in self.steps:
            if isinstance(step, AffineCoupling):
                v, step_log_det = step(v)
                log_det = log_det + step_log_det
            else:
                v = step(v)
        return v, log_det

    def inverse_transform(self, z: Any) -> Any:
        """Latent ``z`` (``latent_shape``) -> ``y`` in (0, 1): :meth:`transform` undone."""
        v = z
        for step in reversed(self.steps):
            v = step.inverse(v)
        return (ops.sigmoid(v) - self.alpha) / (1.0 - 2.0 * self.alpha)

    # ------------------------------------------------------------ likelihood

    def dequantize(self, images: Any, noise: Any) -> Any:
        """Images in [0, 1] (``k / (levels - 1)``) -> ``(k + noise) / levels``."""
        counts = ops.round(ops.clip(images, 0.0, 1.0) * (self.levels - 1))
        return (counts + noise) / self.levels

    def log_likelihood(self, images: Any, noise: Any) -> Any:
        """``log p(y) - D log(levels)`` per example (nats): the dequantised bound on ``log P(pixels)``."""
        z, log_det = self.transform(self.dequantize(images, noise))
        return standard_normal_log_prob(z) + log_det - self.dimensions * math.log(self.levels)

    def bits_per_dim(self, log_likelihood: Any) -> Any:
        return -log_likelihood / (self.dimensions * math.log(2.0))

    def call(self, inputs: Any, training: bool | None = None) -> dict[str, Any]:
        images = ops.cast(image_input(inputs, self.image_key, self.shape), self.compute_dtype)
        if training:
            noise = keras.random.uniform(ops.shape(images), dtype=images.dtype, seed=self.seed_generator)
            log_likelihood = self.log_likelihood(images, noise)
        else:
            samples = len(self.noise_bank)
            batch = ops.shape(images)[0]
            tiled = ops.reshape(ops.tile(images[None], (samples, 1, 1, 1, 1)), (-1, *self.shape))
            bank = ops.convert_to_tensor(self.noise_bank, images.dtype)
            noise = ops.reshape(ops.repeat(bank[:, None], batch, axis=1), (-1, *self.shape))
            log_likelihood = ops.mean(ops.reshape(self.log_likelihood(tiled, noise), (samples, batch)), axis=0)
        return {"bits_per_dim": self.bits_per_dim(log_likelihood), "log_likelihood": log_likelihood}

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        return ops.mean(y_pred["bits_per_dim"])

    # ------------------------------------------------------------ sampling

    def sample(self, count: Any, temperature: float = 1.0) -> tuple[Any, Any]:
        """``count`` images on the data's pixel grid, and their flat latents."""
        z = temperature * keras.random.normal(ops.stack([count, *self.latent_shape]), seed=self.seed_generator)
        y = self.inverse_transform(z)
        counts = ops.clip(ops.floor(y * self.levels), 0.0, self.levels - 1.0)
        return counts / (self.levels - 1), ops.reshape(z, (-1, self.dimensions))


@dataclasses.dataclass(kw_only=True)
class RealNvpHParams(ImageHParams):
    """The flow's shape and dequantisation.

    ``checkerboard_layers`` couplings on the image, then (if > 0) a squeeze and
    ``channel_layers`` couplings; ``hidden`` channels in each of the
    ``conv_layers`` convolutions of a coupling's scale-and-shift network;
    ``levels`` pixel levels of the likelihood's unit; ``alpha`` of the logit
    transform; ``dequantization_samples`` noise images averaged when
    evaluating and serving; ``temperature`` of the served samples.
    """

    checkerboard_layers: int = 4
    channel_layers: int = 4
    hidden: int = 64
    conv_layers: int = 2
    levels: int = 256
    alpha: float = 0.05
    dequantization_samples: int = 4
    temperature: float = 1.0
    learning_rate: float = 1e-3
    clipnorm: float | None = 100.0
    epochs: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("hidden", "conv_layers", "dequantization_samples"):
            check_positive_int(name, getattr(self, name))
        for name in ("checkerboard_layers", "channel_layers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if self.checkerboard_layers + self.channel_layers < 1:
            raise ValueError("checkerboard_layers + channel_layers must be >= 1")
        if not isinstance(self.levels, int) or self.levels < 2:
            raise ValueError(f"levels must be an integer >= 2, got {self.levels!r}")
        if not isinstance(self.alpha, (int, float)) or not 0.0 <= self.alpha < 0.5:
            raise ValueError(f"alpha must be in [0, 0.5), got {self.alpha!r}")
        check_positive("temperature", self.temperature)


@registry.register
class RealNvp(GenerativeFamily):
    name = "realnvp"
    hparams_cls = RealNvpHParams
    main_signature = "log_prob"
    signature_roles = types.MappingProxyType({"log_prob": DENSITY, "sample": SAMPLE})

    def build_model(self, hparams: RealNvpHParams, data: DataSpec, shape: tuple[int, int, int]) -> keras.Model:
        return RealNVP(shape, hparams.checkerboard_layers, hparams.channel_layers, hparams.hidden,
                       hparams.conv_layers, hparams.levels, hparams.alpha, hparams.dequantization_samples,
                       hparams.image_key, hparams.seed, name=self.name)

    def signatures(self, model: RealNVP, hparams: RealNvpHParams, data: DataSpec) -> dict[str, Signature]:
        def log_prob(features: Mapping[str, Any]) -> dict[str, Any]:
            return model({model.image_key: features[model.image_key]}, training=False)

        def sample(inputs: Mapping[str, Any]) -> dict[str, Any]:
            images, z = model.sample(ops.cast(inputs["count"], "int32"), hparams.temperature)
            return {"image": images, "z": z}

        return {
            "log_prob": Signature(log_prob),
            "sample": Signature(sample, {"count": ((), "int32")}),
        }

"""LAPGAN's pieces: Laplacian pyramids and the per-level generator and discriminator.

A Gaussian pyramid halves an image ``levels - 1`` times (2x2 average
pooling); its Laplacian pyramid is the coarsest image followed, level by
level, by the residual ``h_k = g_k - up(g_{k-1})`` between each image and the
(bilinear) upsampling of the coarser one, so that ``g_k = up(g_{k-1}) + h_k``
rebuilds it exactly (:func:`reconstruct`). A LAPGAN level ``k > 0`` has a
:class:`LevelGenerator` that makes a residual from the upsampled coarser
image and noise, and a :class:`LevelDiscriminator` that judges a residual
given the same upsampled coarser image. Keras only.

>>> import numpy as np
>>> x = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
>>> pyramid = laplacian_pyramid(x, 3)
>>> [tuple(p.shape) for p in pyramid]
[(2, 2, 2, 1), (2, 4, 4, 1), (2, 8, 8, 1)]
>>> bool(np.allclose(keras.ops.convert_to_numpy(reconstruct(pyramid)), x, atol=1e-5))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops


def pyramid_shapes(shape: Sequence[int], levels: int) -> list[tuple[int, int, int]]:
    """The image shape at each level, coarsest first; ``ValueError`` when the sides do not halve.

    >>> pyramid_shapes((8, 8, 1), 3)
    [(2, 2, 1), (4, 4, 1), (8, 8, 1)]
    """
    height, width, channels = (int(d) for d in shape)
    if not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be a positive integer, got {levels!r}")
    step = 2 ** (levels - 1)
    if height % step or width % step:
        raise ValueError(f"an image of {height}x{width} cannot be halved {levels - 1} times ({levels} levels)")
    return [(height // 2 ** (levels - 1 - k), width // 2 ** (levels - 1 - k), channels) for k in range(levels)]


def downsample(images: Any) -> Any:
    """Halves height and width by 2x2 average pooling."""
    return ops.average_pool(images, 2, 2, padding="valid")


def upsample(images: Any) -> Any:
    """Doubles height and width by bilinear interpolation."""
    height, width = images.shape[1], images.shape[2]
    return ops.image.resize(images, (2 * height, 2 * width), interpolation="bilinear")


def gaussian_pyramid(images: Any, levels: int) -> list[Any]:
    """``images`` halved ``levels - 1`` times, coarsest first."""
    pyramid = [images]
    for _ in range(levels - 1):
        pyramid.insert(0, downsample(pyramid[0]))
    return pyramid


def laplacian_pyramid(images: Any, levels: int) -> list[Any]:
    """``[g_0, h_1, ..., h_{levels-1}]``: the coarsest image, then each level's residual over the
    upsampled coarser image."""
    gaussian = gaussian_pyramid(images, levels)
    return [gaussian[0]] + [fine - upsample(coarse) for coarse, fine in zip(gaussian, gaussian[1:])]


def reconstruct(pyramid: Sequence[Any]) -> Any:
    """The finest image of a Laplacian pyramid (the inverse of :func:`laplacian_pyramid`)."""
    image = pyramid[0]
    for residual in pyramid[1:]:
        image = upsample(image) + residual
    return image


@keras.saving.register_keras_serializable(package="zoo")
class LevelGenerator(keras.layers.Layer):
    """A LAPGAN level's generator: ``[upsampled coarser image, noise vector]`` -> the residual.

    The noise goes through a dense layer to one plane of the image's size,
    stacked with the conditioning image; two ReLU convolutions and a ``tanh``
    convolution to the image's channels follow (residuals lie in [-1, 1]).

    >>> import numpy as np
    >>> layer = LevelGenerator(8)
    >>> tuple(layer([np.zeros((2, 4, 4, 1), "float32"), np.zeros((2, 3), "float32")]).shape)
    (2, 4, 4, 1)
    >>> LevelGenerator.from_config(layer.get_config()).filters
    8
    """

    def __init__(self, filters: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = filters

    def build(self, input_shape: Sequence[tuple]) -> None:
        image_shape, noise_shape = input_shape
        height, width, channels = image_shape[1:]
        self.plane = keras.layers.Dense(height * width, name="noise_plane")
        self.plane.build(noise_shape)
        self.reshape = keras.layers.Reshape((height, width, 1))
        self.convs = [keras.layers.Conv2D(self.filters, 3, padding="same", activation="relu", name="conv_0"),
                      keras.layers.Conv2D(self.filters, 3, padding="same", activation="relu", name="conv_1"),
                      keras.layers.Conv2D(channels, 3, padding="same", activation="tanh", name="residual")]
        shape = (image_shape[0], height, width, channels + 1)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)

    def call(self, inputs: Sequence[Any], training: bool | None = None) -> Any:
        image, noise = inputs
        x = ops.concatenate([image, self.reshape(self.plane(noise))], axis=-1)
        for conv in self.convs:
            x = conv(x)
        return x

    def compute_output_shape(self, input_shape: Sequence[tuple]) -> tuple:
        return tuple(input_shape[0])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters}


@keras.saving.register_keras_serializable(package="zoo")
class LevelDiscriminator(keras.layers.Layer):
    """A LAPGAN level's discriminator: ``[upsampled coarser image, residual]`` -> one "real" logit.

    Leaky-ReLU convolutions (the second strided) on the two stacked, dropout,
    then a dense logit.

    >>> import numpy as np
    >>> layer = LevelDiscriminator(8)
    >>> tuple(layer([np.zeros((2, 8, 8, 1), "float32"), np.zeros((2, 8, 8, 1), "float32")]).shape)
    (2, 1)
    """

    def __init__(self, filters: int = 32, dropout: float = 0.3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters, self.dropout = filters, dropout
        self.convs = [keras.layers.Conv2D(filters, 3, padding="same", activation="leaky_relu", name="conv_0"),
                      keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="leaky_relu",
                                          name="conv_1")]
        self.flatten = keras.layers.Flatten()
        self.drop = keras.layers.Dropout(dropout)
        self.logit = keras.layers.Dense(1, name="logit")

    def call(self, inputs: Sequence[Any], training: bool | None = None) -> Any:
        x = ops.concatenate(list(inputs), axis=-1)
        for conv in self.convs:
            x = conv(x)
        return self.logit(self.drop(self.flatten(x), training=training))

    def compute_output_shape(self, input_shape: Sequence[tuple]) -> tuple:
        return (input_shape[0][0], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "dropout": self.dropout}

"""A small strided-convolution image encoder and its transposed decoder.

One pair of layers serves every image family that maps images to vectors and
back: the VAE and autoencoders (encoder + decoder), the DCGAN (the decoder is
the generator, the encoder with one logit is the discriminator). Following the
DCGAN guidelines, the encoder downsamples with strided convolutions instead of
pooling and the decoder upsamples with strided transposed convolutions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras


def _downsampled(size: int, times: int) -> int:
    if size % (2 ** times):
        raise ValueError(f"image side {size} is not divisible by 2**{times} (one halving per filter)")
    return size // 2 ** times


@keras.saving.register_keras_serializable(package="zoo")
class ImageEncoder(keras.layers.Layer):
    """Strided 3x3 convolutions (one halving of the image per entry of
    ``filters``), then a dense projection to ``units`` outputs.

    Args:
        units: size of the output vector (``None`` returns the flat features).
        filters: channels of each strided convolution.
        activation: hidden activation (DCGAN discriminators use ``"leaky_relu"``).
        batch_norm: batch norm after every convolution but the first.
        output_activation: activation of the dense output (``None``: linear).

    Example:

    >>> tuple(ImageEncoder(units=4)(keras.ops.ones((2, 8, 8, 1))).shape)
    (2, 4)
    """

    def __init__(self, units: int | None, filters: Sequence[int] = (32, 64), activation: str = "relu",
                 batch_norm: bool = False, output_activation: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units, self.filters, self.activation = units, tuple(filters), activation
        self.batch_norm, self.output_activation = batch_norm, output_activation
        self._activation_fn = keras.activations.get(activation)
        self.convs = [keras.layers.Conv2D(f, 3, strides=2, padding="same") for f in self.filters]
        self.norms = [keras.layers.BatchNormalization() if batch_norm and i else None
                      for i in range(len(self.filters))]
        self.flatten = keras.layers.Flatten()
        self.dense = (keras.layers.Dense(units, activation=output_activation)
                      if units is not None else None)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 4:
            raise ValueError(f"ImageEncoder expects (batch, height, width, channels); got {input_shape}")
        for side in input_shape[1:3]:
            _downsampled(side, len(self.filters))

    def call(self, images: Any, training: bool | None = None) -> Any:
        x = images
        for conv, norm in zip(self.convs, self.norms):
            x = conv(x)
            if norm is not None:
                x = norm(x, training=training)
            x = self._activation_fn(x)
        x = self.flatten(x)
        return self.dense(x) if self.dense is not None else x

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "filters": self.filters,
                "activation": self.activation, "batch_norm": self.batch_norm,
                "output_activation": self.output_activation}


@keras.saving.register_keras_serializable(package="zoo")
class ImageDecoder(keras.layers.Layer):
    """Dense projection to a small feature map, then strided 3x3 transposed
    convolutions (one doubling per entry of ``filters``) up to ``image_shape``.

    The last convolution maps to the image channels with ``output_activation``
    (``"sigmoid"``: pixel intensities / Bernoulli means in [0, 1]).

    Example:

    >>> decoder = ImageDecoder(image_shape=(8, 8, 1), filters=(64, 32))
    >>> tuple(decoder(keras.ops.ones((2, 3))).shape)
    (2, 8, 8, 1)
    """

    def __init__(self, image_shape: Sequence[int], filters: Sequence[int] = (64, 32),
                 activation: str = "relu", batch_norm: bool = False,
                 output_activation: str | None = "sigmoid", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if len(image_shape) != 3:
            raise ValueError(f"image_shape must be (height, width, channels); got {image_shape}")
        self.image_shape, self.filters = tuple(image_shape), tuple(filters)
        self.activation, self.batch_norm, self.output_activation = activation, batch_norm, output_activation
        self._activation_fn = keras.activations.get(activation)
        self._output_activation_fn = keras.activations.get(output_activation)
        height, width, channels = self.image_shape
        self.start_shape = (_downsampled(height, len(self.filters)), _downsampled(width, len(self.filters)),
                            self.filters[0])
        self.project = keras.layers.Dense(self.start_shape[0] * self.start_shape[1] * self.filters[0])
        self.reshape = keras.layers.Reshape(self.start_shape)
        # Each upsampling but the last keeps the next entry's channels; the last
        # doubling also maps to the image channels.
        outputs = self.filters[1:] + (channels,)
        self.deconvs = [keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same") for f in outputs]
        self.norms = [keras.layers.BatchNormalization() if batch_norm else None
                      for _ in range(len(self.filters))]

    def call(self, codes: Any, training: bool | None = None) -> Any:
        x = self.reshape(self.project(codes))
        for deconv, norm in zip(self.deconvs, self.norms):
            if norm is not None:
                x = norm(x, training=training)
            x = self._activation_fn(x)
            x = deconv(x)
        return self._output_activation_fn(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "image_shape": self.image_shape, "filters": self.filters,
                "activation": self.activation, "batch_norm": self.batch_norm,
                "output_activation": self.output_activation}

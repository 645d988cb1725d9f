"""RealNVP's invertible pieces: the affine coupling layer and the squeeze.

An affine coupling layer splits its input ``x`` with a binary mask ``b`` (1 =
passed through) and transforms the other part with a scale and a shift
computed from the passed part only:

    y = b * x + (1 - b) * (x * exp(s(b * x)) + t(b * x))
    log |det dy/dx| = sum((1 - b) * s(b * x))

so the Jacobian is triangular, its log-determinant is the sum of the scales,
and the inverse is as cheap as the forward pass:
``x = b * y + (1 - b) * (y - t(b * y)) * exp(-s(b * y))``. Masks alternate
between layers (``parity``) so every dimension is transformed: a
*checkerboard* mask (``(row + column + parity) % 2``) on any image, a
*channel* mask (the first or second half of the channels) after a
:class:`Squeeze` has traded space for channels. Keras only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

MASKS = ("checkerboard", "channel")


def coupling_mask(kind: str, shape: Sequence[int], parity: int = 0) -> np.ndarray:
    """The ``(height, width, channels)`` float32 mask (1 = passed through) of a coupling layer.

    >>> coupling_mask("checkerboard", (2, 2, 1))[..., 0].tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    >>> coupling_mask("channel", (1, 1, 4), parity=1)[0, 0].tolist()
    [0.0, 0.0, 1.0, 1.0]
    """
    height, width, channels = (int(d) for d in shape)
    if kind == "checkerboard":
        rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
        mask = ((rows + columns + parity) % 2 == 0).astype(np.float32)[..., None]
        return np.repeat(mask, channels, axis=-1)
    if kind == "channel":
        if channels < 2 or channels % 2:
            raise ValueError(f"a channel mask needs an even number of channels (squeeze first); got {channels}")
        half = (np.arange(channels) < channels // 2).astype(np.float32)
        return np.broadcast_to(half if parity % 2 == 0 else 1.0 - half, (height, width, channels)).copy()
    raise ValueError(f"mask must be one of {list(MASKS)}, got {kind!r}")


@keras.saving.register_keras_serializable(package="zoo")
class AffineCoupling(keras.layers.Layer):
    """RealNVP affine coupling on ``(batch, height, width, channels)`` inputs.

    ``call(x)`` returns ``(y, log_det)`` with ``log_det`` per example;
    :meth:`inverse` undoes it. The scale and shift come from a small
    convolutional network on the masked input whose last convolution starts at
    zero, so a fresh layer is the identity; the scale is ``scale * tanh(.)``
    with a learned per-channel ``scale`` (bounded, stable early in training).

    Args:
        mask: ``"checkerboard"`` or ``"channel"``.
        parity: 0 or 1; consecutive layers alternate it.
        hidden: channels of the hidden 3x3 convolutions.
        layers: number of hidden convolutions.

    Example:

    >>> layer = AffineCoupling("checkerboard", parity=1, hidden=8)
    >>> x = keras.random.normal((2, 4, 4, 1), seed=0)
    >>> y, log_det = layer(x)
    >>> tuple(log_det.shape), bool(ops.all(y == x))  # a fresh layer is the identity
    ((2,), True)
    >>> bool(ops.max(ops.abs(layer.inverse(y) - x)) < 1e-6)
    True
    """

    def __init__(self, mask: str = "checkerboard", parity: int = 0, hidden: int = 64, layers: int = 2,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mask not in MASKS:
            raise ValueError(f"mask must be one of {list(MASKS)}, got {mask!r}")
        if parity not in (0, 1):
            raise ValueError(f"parity must be 0 or 1, got {parity!r}")
        if hidden < 1 or layers < 1:
            raise ValueError(f"hidden and layers must be >= 1; got {hidden} and {layers}")
        self.mask, self.parity, self.hidden, self.layers = mask, parity, hidden, layers
        self.convs = [keras.layers.Conv2D(hidden, 3, padding="same", activation="relu") for _ in range(layers)]

    def build(self, input_shape: Sequence[int | None]) -> None:
        if len(input_shape) != 4 or None in tuple(input_shape[1:]):
            raise ValueError(f"AffineCoupling expects (batch, height, width, channels); got {input_shape}")
        channels = int(input_shape[-1])
        self._mask = coupling_mask(self.mask, input_shape[1:], self.parity)
        shape = tuple(input_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = (*shape[:-1], self.hidden)
        self.scale_shift = keras.layers.Conv2D(2 * channels, 3, padding="same", kernel_initializer="zeros")
        self.scale_shift.build(shape)
        self.scale = self.add_weight(shape=(channels,), initializer="ones", name="scale")

    def _scale_shift(self, passed: Any) -> tuple[Any, Any]:
        h = passed
        for conv in self.convs:
            h = conv(h)
        raw_scale, shift = ops.split(self.scale_shift(h), 2, axis=-1)
        inverse_mask = 1.0 - ops.convert_to_tensor(self._mask, dtype=passed.dtype)
        return inverse_mask * self.scale * ops.tanh(raw_scale), inverse_mask * shift

    def call(self, x: Any) -> tuple[Any, Any]:
        mask = ops.convert_to_tensor(self._mask, dtype=x.dtype)
        log_scale, shift = self._scale_shift(mask * x)
        y = mask * x + (1.0 - mask) * (x * ops.exp(log_scale) + shift)
        return y, ops.sum(ops.reshape(log_scale, (ops.shape(x)[0], -1)), axis=-1)

    def inverse(self, y: Any) -> Any:
        mask = ops.convert_to_tensor(self._mask, dtype=y.dtype)
        log_scale, shift = self._scale_shift(mask * y)
        return mask * y + (1.0 - mask) * (y - shift) * ops.exp(-log_scale)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[Any, Any]:
        return tuple(input_shape), (input_shape[0],)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask": self.mask, "parity": self.parity, "hidden": self.hidden,
                "layers": self.layers}


@keras.saving.register_keras_serializable(package="zoo")
class Squeeze(keras.layers.Layer):
    """Space to depth: ``(h, w, c)`` -> ``(h / 2, w / 2, 4c)``, a permutation (log-determinant 0);
    :meth:`inverse` is depth to space.

    Example:

    >>> x = keras.ops.reshape(keras.ops.arange(16, dtype="float32"), (1, 4, 4, 1))
    >>> squeezed = Squeeze()(x)
    >>> tuple(squeezed.shape), bool(keras.ops.all(Squeeze().inverse(squeezed) == x))
    ((1, 2, 2, 4), True)
    """

    def call(self, x: Any) -> Any:
        _, height, width, channels = x.shape
        if height % 2 or width % 2:
            raise ValueError(f"Squeeze needs even height and width; got {(height, width)}")
        x = ops.reshape(x, (-1, height // 2, 2, width // 2, 2, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, height // 2, width // 2, 4 * channels))

    def inverse(self, y: Any) -> Any:
        _, height, width, channels = y.shape
        y = ops.reshape(y, (-1, height, width, 2, 2, channels // 4))
        y = ops.transpose(y, (0, 1, 3, 2, 4, 5))
        return ops.reshape(y, (-1, 2 * height, 2 * width, channels // 4))

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[Any, ...]:
        batch, height, width, channels = input_shape
        return batch, height // 2, width // 2, 4 * channels

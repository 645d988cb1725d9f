"""Super-resolution layers (SRGAN's generator): pixel shuffle and the residual block.

:class:`PixelShuffle` (sub-pixel convolution, Shi et al. 2016) trades channels
for space: ``(batch, h, w, c * r * r)`` -> ``(batch, h * r, w * r, c)`` with
TensorFlow's ``depth_to_space`` ordering, ``out[b, h*r + i, w*r + j, c] =
in[b, h, w, (i*r + j)*c_out + c]``. :class:`ResidualBlock` is SRGAN's
``conv - (BN) - PReLU - conv - (BN)`` plus the identity. Both work on images
of any height and width (the PReLU slopes are shared over space, so a served
signature can take ``None`` height and width). Keras only.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class PixelShuffle(keras.layers.Layer):
    """Rearranges ``(batch, h, w, c * factor**2)`` into ``(batch, h * factor, w * factor, c)``.

    >>> import numpy as np
    >>> x = np.arange(8, dtype="float32").reshape(1, 1, 2, 4)
    >>> y = PixelShuffle(2)(x)
    >>> tuple(y.shape), keras.ops.convert_to_numpy(y)[0, :, :, 0].tolist()
    ((1, 2, 4, 1), [[0.0, 1.0, 4.0, 5.0], [2.0, 3.0, 6.0, 7.0]])
    """

    def __init__(self, factor: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
            raise ValueError(f"factor must be a positive integer, got {factor!r}")
        self.factor = factor

    def call(self, x: Any) -> Any:
        r = self.factor
        channels = x.shape[-1]
        if channels is None or channels % (r * r):
            raise ValueError(f"PixelShuffle({r}) needs a known number of channels divisible by {r * r}; "
                             f"got {channels}")
        shape = ops.shape(x)
        batch, height, width, out = shape[0], shape[1], shape[2], channels // (r * r)
        y = ops.reshape(x, (batch, height, width, r, r, out))
        y = ops.transpose(y, (0, 1, 3, 2, 4, 5))
        return ops.reshape(y, (batch, height * r, width * r, out))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, height, width, channels = input_shape
        r = self.factor
        return (batch, None if height is None else height * r, None if width is None else width * r,
                channels // (r * r))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="zoo")
class ResidualBlock(keras.layers.Layer):
    """SRGAN's residual block: ``x + BN(conv(PReLU(BN(conv(x)))))`` (BN optional), size kept.

    >>> import numpy as np
    >>> block = ResidualBlock(4)
    >>> tuple(block(np.zeros((2, 5, 7, 4), "float32")).shape)
    (2, 5, 7, 4)
    >>> ResidualBlock.from_config(block.get_config()).filters
    4
    """

    def __init__(self, filters: int, kernel_size: int = 3, batch_norm: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.batch_norm = filters, kernel_size, batch_norm
        self.conv1 = keras.layers.Conv2D(filters, kernel_size, padding="same", name="conv1")
        self.conv2 = keras.layers.Conv2D(filters, kernel_size, padding="same", name="conv2")
        self.prelu = keras.layers.PReLU(shared_axes=[1, 2], name="prelu")
        self.norm1 = keras.layers.BatchNormalization(name="bn1") if batch_norm else None
        self.norm2 = keras.layers.BatchNormalization(name="bn2") if batch_norm else None

    def build(self, input_shape: tuple) -> None:
        if input_shape[-1] != self.filters:
            raise ValueError(f"ResidualBlock({self.filters}) needs {self.filters} input channels "
                             f"(the identity is added); got {input_shape[-1]}")
        self.conv1.build(input_shape)
        inner = (*input_shape[:-1], self.filters)
        self.prelu.build(inner)
        self.conv2.build(inner)
        if self.batch_norm:
            self.norm1.build(inner)
            self.norm2.build(inner)

    def call(self, x: Any, training: bool | None = None) -> Any:
        y = self.conv1(x)
        if self.norm1 is not None:
            y = self.norm1(y, training=training)
        y = self.conv2(self.prelu(y))
        if self.norm2 is not None:
            y = self.norm2(y, training=training)
        return x + y

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "batch_norm": self.batch_norm}


@keras.saving.register_keras_serializable(package="zoo")
class ResizeByFactor(keras.layers.Layer):
    """Resizes ``(batch, h, w, c)`` images to ``(batch, h * factor, w * factor, c)`` (any ``h``, ``w``),
    by ``interpolation`` (``"bicubic"``: ``tf.image.resize``'s bicubic on the TensorFlow backend).

    >>> import numpy as np
    >>> up = ResizeByFactor(2)
    >>> y = keras.ops.convert_to_numpy(up(np.full((1, 3, 5, 3), 0.5, "float32")))
    >>> y.shape, bool(np.allclose(y, 0.5))
    ((1, 6, 10, 3), True)
    """

    def __init__(self, factor: int = 2, interpolation: str = "bicubic", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(factor, int) or isinstance(factor, bool) or factor < 1:
            raise ValueError(f"factor must be a positive integer, got {factor!r}")
        self.factor, self.interpolation = factor, interpolation

    def call(self, x: Any) -> Any:
        shape = ops.shape(x)
        return ops.image.resize(x, (shape[1] * self.factor, shape[2] * self.factor),
                                interpolation=self.interpolation)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, height, width, channels = input_shape
        f = self.factor
        return (batch, None if height is None else height * f, None if width is None else width * f, channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "interpolation": self.interpolation}


@keras.saving.register_keras_serializable(package="zoo")
class ICNR(keras.initializers.Initializer):
    """ICNR initialisation (Aitken et al. 2017) of the convolution before a :class:`PixelShuffle`:
    the ``factor**2`` sub-pixel kernels of each output channel start equal, so the shuffled output
    starts as nearest-neighbour upsampling of one convolution, free of checkerboard artifacts.

    >>> import numpy as np
    >>> kernel = np.asarray(ICNR(2)((3, 3, 4, 8)))
    >>> bool(np.array_equal(kernel[..., :2], kernel[..., 6:])), kernel.shape
    (True, (3, 3, 4, 8))
    """

    def __init__(self, factor: int = 2, initializer: Any = "glorot_uniform", seed: int | None = None) -> None:
        self.factor, self.seed = factor, seed
        self.initializer = keras.initializers.get(initializer)

    def __call__(self, shape: tuple, dtype: Any = None) -> Any:
        *window, out = shape
        copies = self.factor * self.factor
        if out % copies:
            raise ValueError(f"ICNR({self.factor}) needs output channels divisible by {copies}; got {out}")
        kernel = self.initializer((*window, out // copies), dtype=dtype)
        return ops.tile(kernel, (1,) * len(window) + (copies,))

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "initializer": keras.initializers.serialize(self.initializer),
                "seed": self.seed}

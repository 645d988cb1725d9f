"""Convolution block: conv -> batch norm -> ReLU (x2), optional residual, pool, dropout."""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="zoo")
class ConvBlock(keras.layers.Layer):
    """Two 2-D convolutions with batch norm, an optional residual shortcut,
    then pooling and dropout.

    ``padding="same"`` keeps the spatial size through the convolutions;
    ``padding="valid"`` shrinks it by ``kernel_size - 1`` per convolution. With
    ``residual=True`` the block's input is added to the second convolution's
    output before the activation (``y = relu(F(x) + P(x))``), where ``P`` is the
    identity, or a 1x1 convolution when shapes differ.

    Example:

    >>> block = ConvBlock(filters=16, residual=True)
    >>> tuple(block(keras.ops.ones((2, 8, 8, 1))).shape)
    (2, 4, 4, 16)
    """

    def __init__(self, filters: int, kernel_size: int = 3, padding: str = "same",
                 pool: str | None = "max", batch_norm: bool = True, residual: bool = False,
                 dropout: float = 0.0, bn_momentum: float = 0.9, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        if pool not in ("max", "avg", None):
            raise ValueError(f"pool must be 'max', 'avg' or None, got {pool!r}")
        self.filters, self.kernel_size, self.padding = filters, kernel_size, padding
        self.pool, self.batch_norm, self.residual, self.dropout = pool, batch_norm, residual, dropout
        self.bn_momentum = bn_momentum
        policy = self.dtype_policy  # mixed precision reaches every sublayer
        self.conv1 = keras.layers.Conv2D(filters, kernel_size, padding=padding, use_bias=not batch_norm,
                                         dtype=policy)
        self.conv2 = keras.layers.Conv2D(filters, kernel_size, padding=padding, use_bias=not batch_norm,
                                         dtype=policy)
        # Momentum 0.9 rather than Keras' 0.99: small datasets train for few
        # steps, and slow moving averages then make inference diverge from training.
        self.norm1 = keras.layers.BatchNormalization(momentum=bn_momentum, dtype=policy) if batch_norm else None
        self.norm2 = keras.layers.BatchNormalization(momentum=bn_momentum, dtype=policy) if batch_norm else None
        self.pooling = {"max": keras.layers.MaxPooling2D, "avg": keras.layers.AveragePooling2D,
                        None: lambda dtype: None}[pool](dtype=policy)
        self.drop = keras.layers.Dropout(dropout, dtype=policy) if dropout else None
        self.shortcut = None

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        shrink = 0 if self.padding == "same" else 2 * (self.kernel_size - 1)
        height, width = input_shape[1], input_shape[2]
        if height is not None and (height - shrink < 1 or width - shrink < 1):
            raise ValueError(f"input {height}x{width} is too small for two {self.kernel_size}x"
                             f"{self.kernel_size} '{self.padding}' convolutions")
        if self.residual and (shrink or input_shape[-1] != self.filters):
            # Project the shortcut: 1x1 conv to the new depth, cropping for 'valid'.
            self.shortcut = keras.Sequential([
                keras.layers.Cropping2D(shrink // 2, dtype=self.dtype_policy),
                keras.layers.Conv2D(self.filters, 1, use_bias=False, dtype=self.dtype_policy),
            ])

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = self.conv1(inputs)
        if self.norm1 is not None:
            x = self.norm1(x, training=training)
        x = keras.ops.relu(x)
        x = self.conv2(x)
        if self.norm2 is not None:
            x = self.norm2(x, training=training)
        if self.residual:
            x = x + (self.shortcut(inputs) if self.shortcut is not None else inputs)
        x = keras.ops.relu(x)
        if self.pooling is not None:
            x = self.pooling(x)
        if self.drop is not None:
            x = self.drop(x, training=training)
        return x

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "padding": self.padding, "pool": self.pool, "batch_norm": self.batch_norm,
                "residual": self.residual, "dropout": self.dropout, "bn_momentum": self.bn_momentum}

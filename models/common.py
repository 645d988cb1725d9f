"""Helpers shared by families and layers that are not layers themselves.

>>> check_choice("cell", "gru", ("gru", "lstm"))
>>> dtype_policy("mixed_bfloat16").compute_dtype
'bfloat16'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raises ``ValueError`` naming ``value`` and the ``choices`` when it is not one of them.

    >>> check_choice("pool", "median", ("max", "avg", None))
    Traceback (most recent call last):
    ...
    ValueError: pool must be one of ['max', 'avg', None], got 'median'
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def dtype_policy(precision: str) -> keras.DTypePolicy:
    """The Keras dtype policy for a ``precision`` hparam (no global state is changed)."""
    check_choice("precision", precision, PRECISIONS)
    return keras.DTypePolicy(precision)


def make_optimizer(hparams: Any, learning_rate: float | None = None, **adam: Any) -> keras.optimizers.Optimizer:
    """Adam at ``hparams.learning_rate`` (or ``learning_rate``), with ``hparams.clipnorm``
    gradient-norm clipping and loss scaling under ``hparams.precision == "mixed_float16"``;
    ``adam`` are further Adam arguments (``beta_1``, ...).

    >>> from models.hparams import HParams
    >>> optimizer = make_optimizer(HParams(learning_rate=0.01, clipnorm=1.0, precision="mixed_float16"))
    >>> type(optimizer).__name__, optimizer.inner_optimizer.clipnorm
    ('LossScaleOptimizer', 1.0)
    """
    rate = hparams.learning_rate if learning_rate is None else learning_rate
    optimizer = keras.optimizers.Adam(rate, clipnorm=hparams.clipnorm, **adam)
    if hparams.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def image_input(inputs: Any, key: str, shape: Sequence[int]) -> Any:
    """The float32 image batch of ``shape`` from a feature dict (or a bare tensor).

    >>> tuple(image_input({"image": keras.ops.zeros((2, 64))}, "image", (8, 8, 1)).shape)
    (2, 8, 8, 1)
    """
    images = inputs[key] if isinstance(inputs, dict) else inputs
    return keras.ops.reshape(keras.ops.cast(images, "float32"), (-1, *shape))

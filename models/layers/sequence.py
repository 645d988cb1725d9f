"""Helpers shared by the sequence families: precision policy, optimizer, vocabulary sizes."""

from __future__ import annotations

import keras

from models.base import DataSpec
from models.layers.recurrent import check_choice

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def dtype_policy(precision: str) -> keras.DTypePolicy:
    """The Keras dtype policy for a ``precision`` hparam (no global state is changed).

    >>> dtype_policy("mixed_bfloat16").compute_dtype
    'bfloat16'
    """
    check_choice("precision", precision, PRECISIONS)
    return keras.DTypePolicy(precision)


def make_optimizer(learning_rate: float, clipnorm: float | None, precision: str) -> keras.optimizers.Optimizer:
    """Adam with gradient-norm clipping; loss scaling under ``mixed_float16``."""
    optimizer = keras.optimizers.Adam(learning_rate, clipnorm=clipnorm or None)
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def vocab_size(data: DataSpec, vocab_name: str, override: int | None = None) -> int:
    """Size of the Transform vocabulary ``vocab_name`` (reserved tokens included), or ``override``.

    >>> vocab_size(DataSpec({}, extras={"vocab_sizes": {"text": 12}}), "text")
    12
    """
    if override:
        return int(override)
    sizes = data.extras.get("vocab_sizes", {})
    if vocab_name not in sizes:
        raise ValueError(f"no vocabulary '{vocab_name}' in the data (known: {sorted(sizes)}); set the "
                         "vocab name hparam to one the Transform writes, or give its size")
    return int(sizes[vocab_name])


def sequence_feature(data: DataSpec, name: str) -> int:
    """Length of the fixed-length token-id feature ``name`` (ValueError listing the features)."""
    if name not in data.features:
        raise ValueError(f"no feature '{name}' in the data; features: {sorted(data.features)}")
    shape = tuple(data.features[name].shape)
    if len(shape) != 1:
        raise ValueError(f"feature '{name}' must be token ids of shape (length,), got {shape}")
    return shape[0]

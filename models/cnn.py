"""Convolutional image classifier, as the notes define a CNN.

Convolution blocks (same/valid padding, batch norm, optional residual
shortcut, max/average pooling, dropout), then global average pooling and a
dense layer before :class:`~models.base.ClassifierFamily`'s softmax head.
``precision="mixed_float16"`` (or ``"mixed_bfloat16"``) trains in mixed precision.

Example:

>>> from models import registry
>>> family = registry.get("cnn")
>>> hp = family.hparams({"filters": (8, 16)})
>>> data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)
>>> family.build(hp, data).output_shape
(None, 10)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import keras

from models import registry
from models.base import ClassifierFamily, DataSpec, FeatureInfo  # noqa: F401  (doctest)
from models.common import PRECISIONS, dtype_policy
from models.features.image import image_shape
from models.hparams import ImageHParams
from models.layers import ConvBlock


@dataclasses.dataclass(kw_only=True)
class CnnHParams(ImageHParams):
    filters: tuple[int, ...] = (32, 64)
    kernel_size: int = 3
    padding: str = "same"
    pool: str | None = "max"
    batch_norm: bool = True
    residual: bool = True
    dropout: float = 0.1
    dense_units: int = 128
    learning_rate: float = 2e-3
    lr_schedule: str | None = "cosine"
    epochs: int = 15


@registry.register
class Cnn(ClassifierFamily):
    name = "cnn"
    hparams_cls = CnnHParams
    precisions = PRECISIONS

    def input_features(self, hparams: CnnHParams) -> tuple[str, ...]:
        return (hparams.image_key,)

    def body(self, hparams: CnnHParams, data: DataSpec, inputs: Mapping[str, Any]) -> Any:
        shape = image_shape(data.features, hparams.image_key)
        policy = dtype_policy(hparams.precision)
        x = inputs[hparams.image_key]
        if tuple(x.shape[1:]) != shape:  # a 2-D image gets its channel axis
            x = keras.layers.Reshape(shape)(x)
        for filters in hparams.filters:
            x = ConvBlock(filters, hparams.kernel_size, hparams.padding, hparams.pool, hparams.batch_norm,
                          hparams.residual, hparams.dropout, dtype=policy)(x)
        x = keras.layers.GlobalAveragePooling2D(dtype=policy)(x)
        x = keras.layers.Dense(hparams.dense_units, activation="relu", dtype=policy)(x)
        return keras.layers.Dropout(hparams.dropout, dtype=policy)(x)

"""Convolutional image classifier, as the notes define a CNN.

Convolution blocks (same/valid padding, batch norm, optional residual
shortcut, max/average pooling, dropout), then global average pooling and a
dense softmax head.

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

import keras

from models import registry
from models.base import ClassifierFamily, DataSpec, FeatureInfo  # noqa: F401  (doctest)
from models.layers import ConvBlock


@dataclasses.dataclass
class CnnHParams:
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
    batch_size: int = 64
    epochs: int = 15
    image_key: str = "image"


@registry.register
class Cnn(ClassifierFamily):
    name = "cnn"
    hparams_cls = CnnHParams

    def build(self, hparams: CnnHParams, data: DataSpec) -> keras.Model:
        if data.num_classes is None:
            raise ValueError("the CNN classifier needs labelled data (num_classes)")
        info = data.features[hparams.image_key]
        shape = tuple(info.shape)
        if len(shape) == 2:
            shape = shape + (1,)
        if len(shape) != 3:
            raise ValueError(f"'{hparams.image_key}' must be an image (H, W[, C]); got shape {info.shape}")
        image = keras.Input(shape=shape, name=hparams.image_key)
        x = image
        for filters in hparams.filters:
            x = ConvBlock(filters, hparams.kernel_size, hparams.padding, hparams.pool,
                          hparams.batch_norm, hparams.residual, hparams.dropout)(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        x = keras.layers.Dense(hparams.dense_units, activation="relu")(x)
        x = keras.layers.Dropout(hparams.dropout)(x)
        probabilities = keras.layers.Dense(data.num_classes, activation="softmax", name="probabilities")(x)
        model = keras.Model({hparams.image_key: image}, probabilities, name="cnn")
        model.compile(optimizer=keras.optimizers.Adam(hparams.learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
        return model

"""Transform for image data: pixels to [0, 1] floats in image shape.

``custom_config``: ``{"image_key": "image", "label_key": "label",
"image_shape": [8, 8, 1], "max_value": 255}`` (only ``image_shape`` is
required; the defaults are the contract in :mod:`models.features.image`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from models.features import image


def preprocessing_fn(inputs: Mapping[str, tf.Tensor], custom_config: Mapping[str, Any]) -> dict[str, tf.Tensor]:
    image_key = custom_config.get("image_key", image.IMAGE)
    label_key = custom_config.get("label_key", image.LABEL)
    shape = [int(d) for d in custom_config["image_shape"]]
    pixels = tf.cast(inputs[image_key], tf.float32) / float(custom_config.get("max_value", image.MAX_VALUE))
    outputs = {image_key: tf.reshape(pixels, [-1, *shape])}
    if label_key in inputs:
        outputs[label_key] = inputs[label_key]
    return outputs

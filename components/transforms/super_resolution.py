"""Transform for super-resolution pairs: both patches to [0, 1] floats in image shape.

``custom_config``: ``{"high_res_key": "high_res", "low_res_key": "low_res",
"high_res_shape": [32, 32, 3], "low_res_shape": [16, 16, 3], "max_value": 255}``
(the shapes are required; the keys and scale default to the contract in
:mod:`models.features.super_resolution`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from models.features import super_resolution as sr


def _shape(custom_config: Mapping[str, Any], key: str) -> list[int]:
    if key not in custom_config:
        raise ValueError(f"the super-resolution transform needs '{key}' in its custom_config; "
                         f"got {sorted(custom_config)}")
    return [int(d) for d in custom_config[key]]


def preprocessing_fn(inputs: Mapping[str, tf.Tensor], custom_config: Mapping[str, Any]) -> dict[str, tf.Tensor]:
    scale = float(custom_config.get("max_value", sr.MAX_VALUE))
    outputs = {}
    for key_name, default, shape_name in (("high_res_key", sr.HIGH_RES, "high_res_shape"),
                                          ("low_res_key", sr.LOW_RES, "low_res_shape")):
        key = custom_config.get(key_name, default)
        pixels = tf.cast(inputs[key], tf.float32) / scale
        outputs[key] = tf.reshape(pixels, [-1, *_shape(custom_config, shape_name)])
    return outputs

"""Image data: what ``components/transforms/image.py`` writes and the image families read.

The Transform scales the raw integer pixels of :data:`IMAGE` by
:data:`MAX_VALUE` to float32 in [0, 1] and reshapes them to the image shape
``(height, width, channels)``, under the same name; the label passes through
as :data:`LABEL`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.features import feature_shape

IMAGE = "image"    # raw pixels (int) in, transformed float32 image (H, W, C) in [0, 1] out
LABEL = "label"    # class id, passed through
MAX_VALUE = 255    # default raw pixel maximum (the Transform divides by it)


def image_shape(features: Mapping[str, Any], key: str = IMAGE) -> tuple[int, int, int]:
    """The ``(height, width, channels)`` of image feature ``key`` in a ``DataSpec.features``
    mapping; a 2-D image gets one channel.

    >>> from models.base import FeatureInfo
    >>> image_shape({"image": FeatureInfo((8, 8), "float32")})
    (8, 8, 1)
    """
    shape = feature_shape(features, key)
    if len(shape) == 2:
        shape += (1,)
    if len(shape) != 3 or None in shape:
        raise ValueError(f"'{key}' must be a fixed-size image (H, W[, C]); got shape {features[key].shape}")
    return shape  # type: ignore[return-value]

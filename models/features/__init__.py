"""The Transform-to-model contract, one module per kind of data.

As TFX's templates keep a ``features.py``, each module here names what a
Transform ``preprocessing_fn`` (``components/transforms/<kind>.py``) writes
and what the model families read: feature names, the label key, vocabulary
names and reserved token ids. Both sides import these constants; neither
writes the literals.

The modules are plain Python (no Keras, no TensorFlow, no other project
module), so the Transform's code fingerprint does not change when model code
does. :func:`feature_shape` is the one lookup of a transformed feature's shape
in a ``DataSpec.features`` mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def feature_shape(features: Mapping[str, Any], key: str) -> tuple[int, ...]:
    """The shape (no batch axis) of transformed feature ``key``; the error lists the features.

    >>> from models.base import FeatureInfo
    >>> feature_shape({"image": FeatureInfo((8, 8, 1), "float32")}, "image")
    (8, 8, 1)
    >>> feature_shape({"image": FeatureInfo((8, 8, 1), "float32")}, "pixels")
    Traceback (most recent call last):
    ...
    ValueError: no feature 'pixels' in the data; features: ['image']
    """
    if key not in features:
        raise ValueError(f"no feature '{key}' in the data; features: {sorted(features)}")
    return tuple(features[key].shape)

"""Raw features of serialized tf.Examples for the GenerativeEvaluator. TensorFlow
only: no TFX import."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf


def raw_features(serialized: Sequence[bytes], image_key: str, label_key: str) -> dict[str, np.ndarray]:
    """``image_key`` ``(n, pixels)`` and, where every example has one, ``label_key``
    ``(n,)`` int64 arrays of raw examples."""
    parsed = [tf.train.Example.FromString(s).features.feature for s in serialized]
    out = {image_key: np.array([list(f[image_key].int64_list.value) for f in parsed], dtype=np.int64)}
    if all(label_key in f for f in parsed):
        out[label_key] = np.array([f[label_key].int64_list.value[0] for f in parsed], dtype=np.int64)
    return out


def with_images(serialized: Sequence[bytes], image_key: str, images: np.ndarray) -> list[bytes]:
    """Copies of the examples with their image feature replaced."""
    out = []
    for s, image in zip(serialized, images):
        example = tf.train.Example.FromString(s)
        example.features.feature[image_key].int64_list.value[:] = [int(v) for v in image.reshape(-1)]
        out.append(example.SerializeToString())
    return out

"""Transform for forecasting: a window of past values (and its future) to normalised model features.

Raw features (``datasets/series.py``): ``past``, a window of past values, and
``future``, the values that follow it (the label; absent at serving). The
Transform

* checks the window: it must hold ``window`` values (``custom_config``, the
  contract's :data:`~models.features.series.WINDOW` by default) and no NaN
  or infinity: a bad window fails with ``InvalidArgument`` (a 400 when served);
* fits the normalisation on the training split (``tft.mean``, ``tft.var``
  over every value of every training window) and writes the normalised
  window :data:`~models.features.series.WINDOW_FEATURE` and the label under
  its raw name, normalised, cut to ``horizon`` values;
* writes the statistics themselves, :data:`~models.features.series.OFFSET`
  and :data:`~models.features.series.SCALE`, so a served forecast is
  denormalised inside the exported graph.

``custom_config`` (all optional)::

    {"past_key": "past", "future_key": "future", "window": 32, "horizon": 8}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from models.features import series as contract

MIN_SCALE = 1e-6  # a constant training series is not divided by zero


def _dense(values: Any) -> tf.Tensor:
    return tf.sparse.to_dense(values) if isinstance(values, tf.SparseTensor) else values


def checked_window(values: tf.Tensor, window: int) -> tf.Tensor:
    """``values`` as float32 ``(batch, window)``; InvalidArgument for another length, NaN or infinity."""
    values = tf.cast(_dense(values), tf.float32)
    length = tf.shape(values)[1]
    with tf.control_dependencies([tf.debugging.assert_equal(
            length, window, message=f"the window of past values must hold exactly {window} values")]):
        values = tf.debugging.assert_all_finite(values, "the window of past values holds NaN or infinity")
    return tf.ensure_shape(values, [None, window])


def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Mapping[str, Any] | None = None) -> dict[str, tf.Tensor]:
    config = dict(custom_config or {})
    past_key = config.get("past_key", contract.PAST)
    future_key = config.get("future_key", contract.FUTURE)
    window, horizon = int(config.get("window", contract.WINDOW)), int(config.get("horizon", contract.HORIZON))
    if past_key not in inputs:
        raise ValueError(f"no window feature '{past_key}' in the raw data; features: {sorted(inputs)}")
    past = checked_window(inputs[past_key], window)
    mean = tft.mean(past)
    scale = tf.maximum(tf.sqrt(tft.var(past)), MIN_SCALE)
    column = tf.ones_like(past[:, :1])
    outputs = {contract.WINDOW_FEATURE: (past - mean) / scale,
               contract.OFFSET: column * mean,
               contract.SCALE: column * scale}
    if future_key in inputs:
        future = tf.cast(_dense(inputs[future_key]), tf.float32)[:, :horizon]
        outputs[future_key] = tf.ensure_shape((future - mean) / scale, [None, horizon])
    return outputs

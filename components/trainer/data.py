"""Transformed data for the trainer: the DataSpec a family sees and tf.data inputs."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from models.base import DataSpec, FeatureInfo


def data_spec(tft_output: tft.TFTransformOutput, label_key: str | None,
              num_classes: int | None) -> DataSpec:
    """Describes the transformed features (label excluded) and the vocabularies."""
    spec = tft_output.transformed_feature_spec()
    if label_key is not None and label_key not in spec:
        raise ValueError(f"label '{label_key}' is not a transformed feature; "
                         f"the Transform outputs: {sorted(spec)}")
    features = {}
    for name, feature in spec.items():
        if name == label_key:
            continue
        if not isinstance(feature, tf.io.FixedLenFeature):
            raise ValueError(f"transformed feature '{name}' is {type(feature).__name__}; "
                             "the preprocessing_fn must output dense, fixed-shape features")
        features[name] = FeatureInfo(tuple(int(d) for d in feature.shape), feature.dtype.name)
    assets = os.path.join(tft_output.transform_savedmodel_dir, "assets")
    vocab_names = sorted(tf.io.gfile.listdir(assets)) if tf.io.gfile.exists(assets) else []
    extras = {
        "vocab_sizes": {n: tft_output.vocabulary_size_by_name(n) for n in vocab_names},
        "vocab_files": {n: tft_output.vocabulary_file_by_name(n) for n in vocab_names},
    }
    return DataSpec(features, label_key, num_classes, extras)


def count_records(files: Sequence[str]) -> int:
    """Records in the (gzip) TFRecord files matching ``files``: one pass, no parsing."""
    paths = sorted({path for pattern in files for path in tf.io.gfile.glob(pattern)})
    return sum(int(tf.data.TFRecordDataset(path, "GZIP" if path.endswith(".gz") else "")
                   .reduce(np.int64(0), lambda count, _: count + 1)) for path in paths)


def make_dataset(files: Sequence[str], data_accessor: Any, tft_output: tft.TFTransformOutput,
                 label_key: str | None, batch_size: int, shuffle: bool,
                 seed: int, repeat: bool = False) -> tf.data.Dataset:
    """Batches of ``(features, label)`` (or ``features`` without a label).

    One pass of known length (so Keras knows an epoch's steps from the start
    and never runs out of data in the middle of one), or, with ``repeat``, an
    endless stream for a ``fit`` that sets ``steps_per_epoch``.
    """
    options = tfxio.TensorFlowDatasetOptions(
        batch_size=batch_size, label_key=label_key, num_epochs=None if repeat else 1, shuffle=shuffle,
        shuffle_seed=seed if shuffle else None)
    dataset = data_accessor.tf_dataset_factory(files, options, tft_output.transformed_metadata.schema)
    if not repeat:
        batches = math.ceil(count_records(files) / batch_size)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
    return dataset.prefetch(tf.data.AUTOTUNE)

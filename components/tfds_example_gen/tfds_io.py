"""Streams any TFDS dataset into the files of a TFX ``Examples`` artifact.

This module has no TFX import: ``TfdsExampleGen``'s executor calls
:func:`write_tfds_examples`, and tests call it directly. The layout is the one
stock ExampleGen writes::

    <output_dir>/Split-<name>/data_tfrecord-00000-of-0000N.gz

gzip TFRecords of ``tf.train.Example``. Features are converted generically
from the builder's ``FeaturesDict`` (see :func:`feature_converters`).

Example:

>>> import tensorflow_datasets as tfds
>>> import datasets  # registers `digits`
>>> features = tfds.builder_cls("digits")(data_dir="/nonexistent").info.features
>>> [(c.name, c.kind, c.shape) for c in feature_converters(features)]
[('image', 'int64', (8, 8, 1)), ('label', 'int64', ())]
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging
from tfx_bsl.coders import example_coder

DEFAULT_SPLITS: Mapping[str, str] = {"train": "train", "eval": "test"}
DEFAULT_BUILDER_MODULES: tuple[str, ...] = ("datasets",)
FILE_PREFIX = "data_tfrecord"  # Stock ExampleGen's file prefix.
FILE_SUFFIX = ".gz"
SPLIT_DIR_PREFIX = "Split-"  # Stock `artifact_utils.get_split_uri` layout.
ENCODE_BATCH_SIZE = 256  # Examples per Arrow batch when serializing.
SUPPORTED_FEATURES = ("FeaturesDict", "Image", "ClassLabel", "Text", "Scalar", "Tensor")

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
# The module tfds.testing.mock_data patches `DatasetBuilder` methods from.
_TFDS_MOCK_MODULE = "tensorflow_datasets.testing"


class DatasetNotAvailableError(RuntimeError):
    """A remote TFDS dataset is not prepared locally and downloads are off."""


@dataclasses.dataclass(frozen=True)
class FeatureConverter:
    """Turns one (possibly nested) TFDS feature into a ``tf.train.Feature``.

    Attributes:
        name: the Example feature name, nested keys joined with ``'/'``.
        path: the keys leading to the value in a TFDS example.
        tfds_type: the TFDS feature class name (``'Image'``, ``'Text'``, ...).
        kind: the Example list type: ``'int64'``, ``'float'`` or ``'bytes'``.
        shape: the TFDS shape the value is flattened from (``None`` = dynamic).
        dtype: the TFDS numpy dtype name (``'uint8'``, ``'object'`` for strings).
        extras: class metadata (``num_classes``, ``names``) for class labels.
    """

    name: str
    path: tuple[str, ...]
    tfds_type: str
    kind: str
    shape: tuple[int | None, ...]
    dtype: str
    extras: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """Returns a JSON-friendly description of the feature."""
        return {
            "tfds_type": self.tfds_type,
            "example_type": self.kind,
            "shape": list(self.shape),
            "dtype": self.dtype,
            **self.extras,
        }

    def flatten(self, value: Any) -> np.ndarray | list[bytes]:
        """One TFDS (numpy) value as the flat list of Example values (int64, float32 or bytes)."""
        flat = np.asarray(value).reshape(-1)
        if self.kind == "bytes":
            return [_to_bytes(v) for v in flat]
        return flat.astype(np.int64 if self.kind == "int64" else np.float32)

    def to_feature(self, value: Any) -> tf.train.Feature:
        """Converts one TFDS (numpy) value to a ``tf.train.Feature``."""
        flat = self.flatten(value)
        if self.kind == "int64":
            return tf.train.Feature(int64_list=tf.train.Int64List(value=flat.tolist()))
        if self.kind == "float":
            return tf.train.Feature(float_list=tf.train.FloatList(value=flat.tolist()))
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=flat))

    @property
    def fixed_shape(self) -> bool:
        """Whether every value has the same shape (so values can be batched densely)."""
        return all(dim is not None for dim in self.shape)

    def to_arrow(self, values: Sequence[Any]) -> pa.ListArray:
        """The values of a batch of examples as one Arrow list column (one list per example)."""
        flats = [self.flatten(v) for v in values]
        offsets = np.zeros(len(flats) + 1, dtype=np.int32)
        np.cumsum([len(f) for f in flats], out=offsets[1:])
        if self.kind == "bytes":
            return _list_array(offsets, [v for f in flats for v in f])
        return _list_array(offsets, np.concatenate(flats) if flats else self.flatten([]))

    def dense_to_arrow(self, batch: np.ndarray) -> pa.ListArray:
        """A dense batch (``(batch, *shape)`` array, fixed shapes only) as one Arrow list column."""
        flat = np.asarray(batch).reshape(len(batch), -1)
        offsets = np.arange(len(batch) + 1, dtype=np.int32) * flat.shape[1]
        return _list_array(offsets, self.flatten(flat))


def _list_array(offsets: np.ndarray, values: np.ndarray | list[bytes]) -> pa.ListArray:
    arrow_values = (
        pa.array(values, type=pa.binary()) if isinstance(values, list) else pa.array(values)
    )
    return pa.ListArray.from_arrays(pa.array(offsets), arrow_values)


@dataclasses.dataclass(frozen=True)
class TfdsExport:
    """What :func:`write_tfds_examples` wrote.

    Attributes:
        dataset: canonical TFDS name with config (``'imdb_reviews/plain_text'``).
        version: the TFDS version written (``'1.0.0'``).
        splits: output split name -> TFDS split spec it was read from.
        num_examples: output split name -> number of examples written.
        features: Example feature name -> description (:meth:`FeatureConverter.describe`).
    """

    dataset: str
    version: str
    splits: Mapping[str, str]
    num_examples: Mapping[str, int]
    features: Mapping[str, Mapping[str, Any]]

    @property
    def split_names(self) -> list[str]:
        return list(self.splits)


def _to_bytes(value: Any) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _example_kind(dtype: np.dtype) -> str:
    if np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_):
        return "int64"
    if np.issubdtype(dtype, np.floating):
        return "float"
    return "bytes"


def _unsupported(path: tuple[str, ...], feature: Any) -> ValueError:
    name = "/".join(path) or "<top level>"
    return ValueError(
        f"TFDS feature {name!r} has unsupported type {type(feature).__name__}; "
        f"supported types: {', '.join(SUPPORTED_FEATURES)}"
    )


def _leaf_converter(
    path: tuple[str, ...], feature: tfds.features.FeatureConnector
) -> FeatureConverter:
    name = "/".join(path)
    tfds_type = type(feature).__name__
    supported = isinstance(
        feature, (tfds.features.Image, tfds.features.ClassLabel, tfds.features.Text)
    )
    if not (supported or type(feature) in (tfds.features.Tensor, tfds.features.Scalar)):
        raise _unsupported(path, feature)
    info = feature.get_tensor_info()
    dtype = np.dtype(info.np_dtype)
    extras: dict[str, Any] = {}
    if isinstance(feature, tfds.features.ClassLabel):
        extras = {"num_classes": feature.num_classes, "names": list(feature.names)}
    return FeatureConverter(
        name=name,
        path=path,
        tfds_type=tfds_type,
        kind=_example_kind(dtype),
        shape=tuple(info.shape),
        dtype=dtype.name,
        extras=extras,
    )


def feature_converters(
    features: tfds.features.FeaturesDict, prefix: tuple[str, ...] = ()
) -> list[FeatureConverter]:
    """Returns one converter per leaf of a TFDS ``FeaturesDict`` (nested dicts flattened).

    Raises:
        ValueError: naming the first feature whose type has no Example mapping.
    """
    if not isinstance(features, tfds.features.FeaturesDict):
        raise _unsupported(prefix, features)
    converters = []
    for key, feature in features.items():
        path = (*prefix, key)
        if isinstance(feature, tfds.features.FeaturesDict):
            converters.extend(feature_converters(feature, path))
        else:
            converters.append(_leaf_converter(path, feature))
    return converters


def to_tf_example(
    example: Mapping[str, Any], converters: Sequence[FeatureConverter]
) -> tf.train.Example:
    """Converts one numpy TFDS example (``tfds.as_numpy`` output) to a ``tf.train.Example``."""
    feature = {c.name: c.to_feature(_value_at(example, c.path)) for c in converters}
    return tf.train.Example(features=tf.train.Features(feature=feature))


def _value_at(example: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        example = example[key]
    return example


def serialize_examples(
    examples: Iterable[Mapping[str, Any]],
    converters: Sequence[FeatureConverter],
    batch_size: int = ENCODE_BATCH_SIZE,
) -> Iterator[bytes]:
    """Serialized ``tf.train.Example`` of each numpy TFDS example, in order.

    Same result as ``to_tf_example(...).SerializeToString()``, but examples are
    encoded in batches by tfx_bsl's C++ Arrow-to-Example encoder (~10x faster).
    Only ``batch_size`` examples are held at a time.
    """
    for batch in _batches(examples, batch_size):
        columns = [c.to_arrow([_value_at(ex, c.path) for ex in batch]) for c in converters]
        yield from _encode(columns, converters)


def serialize_dense_batches(
    batches: Iterable[Mapping[str, Any]], converters: Sequence[FeatureConverter]
) -> Iterator[bytes]:
    """Like :func:`serialize_examples`, from dense batches (``ds.batch(n)``; fixed shapes only)."""
    for batch in batches:
        yield from _encode(
            [c.dense_to_arrow(_value_at(batch, c.path)) for c in converters], converters
        )


def _encode(columns: list[pa.ListArray], converters: Sequence[FeatureConverter]) -> list[bytes]:
    record_batch = pa.RecordBatch.from_arrays(columns, [c.name for c in converters])
    return example_coder.RecordBatchToExamples(record_batch)


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _import_builder_modules(modules: Iterable[str]) -> list[Any]:
    imported = []
    for name in modules:
        try:
            imported.append(importlib.import_module(name))
        except ImportError as e:
            raise ValueError(f"builder_modules entry {name!r} cannot be imported: {e}") from e
    return imported


def _module_root(module: Any) -> str | None:
    """The folder of a package, or the file of a plain module."""
    paths = list(getattr(module, "__path__", []))
    if paths:
        return os.path.realpath(paths[0])
    filename = getattr(module, "__file__", None)
    return os.path.realpath(filename) if filename else None


def is_local_builder(builder_cls: type, modules: Sequence[Any]) -> bool:
    """Whether ``builder_cls`` is defined in (a sub-module of) one of the imported ``modules``.

    Matches by module name and, so that a module imported under two names
    still counts, by source file.
    """
    name = builder_cls.__module__
    if any(name == m.__name__ or name.startswith(m.__name__ + ".") for m in modules):
        return True
    source = getattr(sys.modules.get(name), "__file__", None)
    if not source:
        return False
    source = os.path.realpath(source)
    for root in filter(None, map(_module_root, modules)):
        if source == root or source.startswith(root + os.sep):
            return True
    return False


def tfds_is_mocked() -> bool:
    """Whether ``tfds.testing.mock_data`` is active (``download_and_prepare`` is its no-op)."""
    prepare = tfds.core.DatasetBuilder.download_and_prepare
    return getattr(prepare, "__module__", "").startswith(_TFDS_MOCK_MODULE)


def _dataset_name(builder: tfds.core.DatasetBuilder) -> str:
    config = builder.builder_config
    return f"{builder.name}/{config.name}" if config else builder.name


def load_builder(
    dataset: str,
    *,
    version: str | None = None,
    data_dir: str | None = None,
    builder_modules: Sequence[str] = DEFAULT_BUILDER_MODULES,
    allow_download: bool = False,
) -> tfds.core.DatasetBuilder:
    """Returns a prepared TFDS builder, never touching the network unless ``allow_download``.

    Local builders (defined in ``builder_modules``) and mocked TFDS
    (``tfds.testing.mock_data``) are always prepared here. A remote builder is
    prepared only with ``allow_download=True``; otherwise it must already be
    prepared in ``data_dir``.

    Raises:
        DatasetNotAvailableError: a remote dataset is not prepared and downloads are off.
        ValueError: a ``builder_modules`` entry cannot be imported.
        tfds.core.registered.DatasetNotFoundError: ``dataset`` is no TFDS name.
    """
    modules = _import_builder_modules(builder_modules)
    mocked = tfds_is_mocked()
    namespace = tfds.core.naming.parse_builder_name_kwargs(dataset)[0].namespace
    if namespace and not (allow_download or mocked):
        # Community namespaces (`huggingface:...`) are resolved over the network.
        raise DatasetNotAvailableError(
            f"TFDS dataset {dataset!r} is in the community namespace {namespace!r}, which TFDS "
            f"resolves over the network, and downloads are off: pass allow_download=True"
        )
    kwargs: dict[str, Any] = {"data_dir": data_dir} if data_dir else {}
    if version:
        kwargs["version"] = version
    # Constructing a builder reads local files only (TFDS' GCS look-ups are off).
    builder = tfds.builder(dataset, **kwargs)
    if allow_download or mocked or is_local_builder(type(builder), modules):
        config = tfds.download.DownloadConfig(try_download_gcs=allow_download)
        builder.download_and_prepare(download_config=config)
    elif not builder.is_prepared():
        name = _dataset_name(builder)
        raise DatasetNotAvailableError(
            f"TFDS dataset {name!r} is not prepared in {builder.data_dir_root} and downloads are off: "
            f"run `tfds build {name} --data_dir={builder.data_dir_root}` where the network is "
            f"reachable, or pass allow_download=True"
        )
    return builder


def version_number(version: Any) -> int:
    """A TFDS version as the integer ``version`` property of ``Examples`` (``MAJOR*10**6 + MINOR*10**3 + PATCH``),
    so later TFDS versions compare greater, as stock ExampleGen's data versions do.

    >>> version_number("1.2.3"), version_number("4.0.0") > version_number("3.999.0")
    (1002003, True)
    """
    major, minor, patch = (int(part) for part in str(version).split("."))
    return major * 1_000_000 + minor * 1_000 + patch


def data_fingerprint(builder: tfds.core.DatasetBuilder) -> str:
    """Fingerprint of a prepared dataset: its name, version, and every file of the prepared version
    (relative path, size, modification time), as stock ExampleGen fingerprints its input files.
    Re-prepared or changed local data changes it; reading the data does not."""
    import hashlib

    base = str(builder.data_dir)
    lines = [_dataset_name(builder), str(builder.version)]
    for dirpath, dirnames, files in sorted(tf.io.gfile.walk(base)):
        dirnames.sort()
        for file in sorted(files):
            path = os.path.join(dirpath, file)
            stat = tf.io.gfile.stat(path)
            lines.append(f"{os.path.relpath(path, base)}:{stat.length}:{stat.mtime_nsec}")
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return f"{_dataset_name(builder)}:{builder.version}:{digest}"


def check_arguments(
    dataset: str, splits: Mapping[str, str], num_shards: int, max_examples_per_split: int | None
) -> None:
    """Raises ValueError on an empty name, bad splits or non-positive shard and example counts."""
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(
            f"dataset must be a TFDS name such as 'mnist' or 'imdb_reviews/plain_text', got {dataset!r}"
        )
    if not splits:
        raise ValueError("splits must map at least one output split name to a TFDS split, got {}")
    for name, spec in splits.items():
        if not isinstance(name, str) or not _SPLIT_NAME.match(name):
            raise ValueError(
                f"Output split name {name!r} is invalid: use letters, digits, '_', '.' or '-'"
            )
        if not isinstance(spec, str) or not spec:
            raise ValueError(
                f"TFDS split spec for {name!r} must be a non-empty string, got {spec!r}"
            )
    if not isinstance(num_shards, int) or num_shards < 1:
        raise ValueError(f"num_shards must be a positive int, got {num_shards!r}")
    if max_examples_per_split is not None and max_examples_per_split < 1:
        raise ValueError(
            f"max_examples_per_split must be None or positive, got {max_examples_per_split!r}"
        )


def shard_paths(split_dir: str, num_shards: int) -> list[str]:
    """Beam-style shard names: ``data_tfrecord-00000-of-00002.gz``, ..."""
    return [
        os.path.join(split_dir, f"{FILE_PREFIX}-{i:05d}-of-{num_shards:05d}{FILE_SUFFIX}")
        for i in range(num_shards)
    ]


def split_dir(output_dir: str, split: str) -> str:
    """The folder of one split, as ``artifact_utils.get_split_uri`` names it."""
    return os.path.join(output_dir, f"{SPLIT_DIR_PREFIX}{split}")


def _write_split(records: Iterable[bytes], directory: str, num_shards: int) -> int:
    """Writes records round-robin into ``num_shards`` gzip TFRecord files; returns the count."""
    tf.io.gfile.makedirs(directory)
    for stale in tf.io.gfile.glob(os.path.join(directory, f"{FILE_PREFIX}-*")):
        tf.io.gfile.remove(stale)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    writers = [tf.io.TFRecordWriter(path, options) for path in shard_paths(directory, num_shards)]
    count = 0
    try:
        for count, record in enumerate(records, start=1):
            writers[(count - 1) % num_shards].write(record)
    finally:
        for writer in writers:
            writer.close()
    return count


def write_tfds_examples(
    dataset: str,
    output_dir: str,
    *,
    splits: Mapping[str, str] | None = None,
    version: str | None = None,
    data_dir: str | None = None,
    builder_modules: Sequence[str] = DEFAULT_BUILDER_MODULES,
    allow_download: bool = False,
    num_shards: int = 1,
    max_examples_per_split: int | None = None,
) -> TfdsExport:
    """Streams TFDS splits into ``<output_dir>/Split-<name>/data_tfrecord-*.gz``.

    Args:
        dataset: TFDS name, with config if any: ``'digits'``, ``'imdb_reviews/plain_text'``.
        output_dir: the Examples artifact's URI.
        splits: output split name -> TFDS split spec (slicing allowed:
            ``'train[:90%]'``). Defaults to ``{'train': 'train', 'eval': 'test'}``.
        version: TFDS version (``'1.0.0'``); the builder's default if ``None``.
        data_dir: TFDS data dir; TFDS' default (``~/tensorflow_datasets``) if ``None``.
        builder_modules: modules to import first so local builders register.
        allow_download: whether a remote dataset may be downloaded and prepared.
        num_shards: files per split (examples are dealt round-robin).
        max_examples_per_split: write at most this many examples per split.

    Returns:
        A :class:`TfdsExport` with counts per split and the feature description.
    """
    splits = dict(DEFAULT_SPLITS if splits is None else splits)
    check_arguments(dataset, splits, num_shards, max_examples_per_split)
    builder = load_builder(
        dataset,
        version=version,
        data_dir=data_dir,
        builder_modules=builder_modules,
        allow_download=allow_download,
    )
    converters = feature_converters(builder.info.features)
    read_config = tfds.ReadConfig(try_autocache=False)
    # Build every split's dataset first so a bad split spec fails before any write.
    datasets = {
        name: builder.as_dataset(split=spec, shuffle_files=False, read_config=read_config)
        for name, spec in splits.items()
    }
    num_examples = {}
    for name, ds in datasets.items():
        if max_examples_per_split is not None:
            ds = ds.take(max_examples_per_split)
        if all(c.fixed_shape for c in converters):  # Batched reads: far less tf.data overhead.
            records = serialize_dense_batches(
                tfds.as_numpy(ds.batch(ENCODE_BATCH_SIZE)), converters
            )
        else:
            records = serialize_examples(tfds.as_numpy(ds), converters)
        num_examples[name] = _write_split(records, split_dir(output_dir, name), num_shards)
        logging.info(
            "TfdsExampleGen: wrote %d examples of %s[%s] to split %r",
            num_examples[name],
            dataset,
            splits[name],
            name,
        )
    return TfdsExport(
        dataset=_dataset_name(builder),
        version=str(builder.version),
        splits=splits,
        num_examples=num_examples,
        features={c.name: c.describe() for c in converters},
    )


def features_json(export: TfdsExport) -> str:
    """The feature description as a compact, key-sorted JSON string."""
    return json.dumps(export.features, sort_keys=True)

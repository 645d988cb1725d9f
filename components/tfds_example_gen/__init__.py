"""TfdsExampleGen: any TFDS dataset as a TFX ``Examples`` artifact.

``TfdsExampleGen``, ``TfdsExampleGenSpec`` and ``Executor`` import TFX and are
loaded on first access; the TFDS-side API (``write_tfds_examples``, the
feature conversion, ``DatasetNotAvailableError``) does not import TFX.
"""

from components.tfds_example_gen.tfds_io import (
    DEFAULT_BUILDER_MODULES,
    DEFAULT_SPLITS,
    DatasetNotAvailableError,
    FeatureConverter,
    TfdsExport,
    feature_converters,
    load_builder,
    serialize_dense_batches,
    serialize_examples,
    to_tf_example,
    write_tfds_examples,
)

_LAZY = {
    "TfdsExampleGen": "components.tfds_example_gen.component",
    "TfdsExampleGenSpec": "components.tfds_example_gen.component",
    "Executor": "components.tfds_example_gen.executor",
}

__all__ = [
    "DEFAULT_BUILDER_MODULES",
    "DEFAULT_SPLITS",
    "DatasetNotAvailableError",
    "Executor",
    "FeatureConverter",
    "TfdsExampleGen",
    "TfdsExampleGenSpec",
    "TfdsExport",
    "feature_converters",
    "load_builder",
    "serialize_dense_batches",
    "serialize_examples",
    "to_tf_example",
    "write_tfds_examples",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

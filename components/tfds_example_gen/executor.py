"""Executor of ``TfdsExampleGen``: writes a TFDS dataset into an ``Examples`` artifact.

A plain (non-Beam) executor: it streams each split through
:func:`components.tfds_example_gen.tfds_io.write_tfds_examples` and annotates
the artifact the way stock ExampleGen does (``split_names``, ``span``,
``payload_format``, ``file_format``), plus ``tfds_*`` custom properties.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tfx import types
from tfx.components.util import examples_utils
from tfx.dsl.components.base import base_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils

from components.tfds_example_gen import tfds_io

# Execution property and output keys (shared with component.py).
DATASET_KEY = "dataset"
VERSION_KEY = "version"
SPLITS_KEY = "splits"  # JSON object: output split name -> TFDS split spec.
DATA_DIR_KEY = "data_dir"
BUILDER_MODULES_KEY = "builder_modules"  # JSON list of module names.
ALLOW_DOWNLOAD_KEY = "allow_download"
NUM_SHARDS_KEY = "num_shards"
MAX_EXAMPLES_KEY = "max_examples_per_split"
EXAMPLES_KEY = "examples"

# Custom properties set on the output Examples artifact.
TFDS_DATASET_PROPERTY = "tfds_dataset"
TFDS_VERSION_PROPERTY = "tfds_version"
TFDS_SPLITS_PROPERTY = "tfds_splits"  # JSON object.
NUM_EXAMPLES_PROPERTY = "tfds_num_examples"  # JSON object: split -> count.
FEATURES_PROPERTY = "tfds_features"  # JSON object: feature -> description.
FINGERPRINT_PROPERTY = "tfds_fingerprint"  # the driver's input_fingerprint: dataset, version, files' digest
FILE_FORMAT = "tfrecords_gzip"


def _json_value(value: Any, default: Any) -> Any:
    """Exec properties arrive as JSON strings from the component, or as objects in tests."""
    if value is None or value == "":
        return default
    return json.loads(value) if isinstance(value, str) else value


def write_kwargs(exec_properties: Mapping[str, Any]) -> dict[str, Any]:
    """Maps exec properties to the keyword arguments of ``write_tfds_examples``."""
    max_examples = exec_properties.get(MAX_EXAMPLES_KEY)
    return {
        "dataset": exec_properties[DATASET_KEY],
        "version": exec_properties.get(VERSION_KEY) or None,
        "splits": _json_value(exec_properties.get(SPLITS_KEY), tfds_io.DEFAULT_SPLITS),
        "data_dir": exec_properties.get(DATA_DIR_KEY) or None,
        "builder_modules": _json_value(
            exec_properties.get(BUILDER_MODULES_KEY), list(tfds_io.DEFAULT_BUILDER_MODULES)
        ),
        "allow_download": bool(exec_properties.get(ALLOW_DOWNLOAD_KEY, False)),
        "num_shards": int(exec_properties.get(NUM_SHARDS_KEY) or 1),
        "max_examples_per_split": int(max_examples) if max_examples else None,
    }


def annotate_examples(examples: types.Artifact, export: tfds_io.TfdsExport, fingerprint: str | None = None) -> None:
    """Sets stock ExampleGen properties (``span`` 0; ``version``: the TFDS version as a number,
    :func:`~components.tfds_example_gen.tfds_io.version_number`) and the ``tfds_*`` custom properties."""
    examples.split_names = artifact_utils.encode_split_names(export.split_names)
    examples.span = 0
    examples.version = tfds_io.version_number(export.version)
    if fingerprint:
        examples.set_string_custom_property(FINGERPRINT_PROPERTY, fingerprint)
    examples_utils.set_payload_format(examples, example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE)
    examples_utils.set_file_format(examples, FILE_FORMAT)
    examples.set_string_custom_property(TFDS_DATASET_PROPERTY, export.dataset)
    examples.set_string_custom_property(TFDS_VERSION_PROPERTY, export.version)
    examples.set_string_custom_property(TFDS_SPLITS_PROPERTY, json.dumps(dict(export.splits)))
    examples.set_string_custom_property(
        NUM_EXAMPLES_PROPERTY, json.dumps(dict(export.num_examples))
    )
    examples.set_string_custom_property(FEATURES_PROPERTY, tfds_io.features_json(export))


class Executor(base_executor.BaseExecutor):
    """Writes the configured TFDS splits as gzip TFRecords of ``tf.train.Example``."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        """Writes ``output_dict['examples']``; see :func:`write_kwargs` for the properties."""
        self._log_startup(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(output_dict[EXAMPLES_KEY])
        export = tfds_io.write_tfds_examples(
            output_dir=examples.uri, **write_kwargs(exec_properties)
        )
        # Set by the driver (components/tfds_example_gen/driver.py) before the cache check.
        annotate_examples(examples, export, exec_properties.get("input_fingerprint"))

"""``TfdsExampleGen``: a TFX component that turns any TFDS dataset into ``Examples``.

Example:

>>> from components.tfds_example_gen import TfdsExampleGen
>>> gen = TfdsExampleGen(dataset="digits", splits={"train": "train[:90%]", "eval": "test"})
>>> gen.outputs["examples"].type_name
'Examples'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.tfds_example_gen import driver, executor, tfds_io


class TfdsExampleGenSpec(types.ComponentSpec):
    """Parameters of :class:`TfdsExampleGen` (dicts and lists travel as JSON strings)."""

    PARAMETERS: ClassVar[dict[str, Any]] = {
        executor.DATASET_KEY: ExecutionParameter(type=str),
        executor.VERSION_KEY: ExecutionParameter(type=str, optional=True),
        executor.SPLITS_KEY: ExecutionParameter(type=str),
        executor.DATA_DIR_KEY: ExecutionParameter(type=str, optional=True),
        executor.BUILDER_MODULES_KEY: ExecutionParameter(type=str),
        executor.ALLOW_DOWNLOAD_KEY: ExecutionParameter(type=bool),
        executor.NUM_SHARDS_KEY: ExecutionParameter(type=int),
        executor.MAX_EXAMPLES_KEY: ExecutionParameter(type=int, optional=True),
    }
    INPUTS: ClassVar[dict[str, Any]] = {}
    OUTPUTS: ClassVar[dict[str, Any]] = {
        executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)
    }


class TfdsExampleGen(base_component.BaseComponent):
    """Writes TFDS splits into an ``Examples`` artifact laid out like stock ExampleGen.

    Output ``examples``: ``<uri>/Split-<name>/data_tfrecord-0000i-of-0000N.gz``
    with ``split_names`` set, so StatisticsGen, SchemaGen, Transform and
    Evaluator read it unchanged. Properties: ``span`` 0 and ``version`` (the
    TFDS version as a number); custom properties: ``tfds_dataset``,
    ``tfds_version``, ``tfds_fingerprint`` (dataset, version and a digest of the
    prepared files), ``tfds_splits``, ``tfds_num_examples`` and
    ``tfds_features`` (the last three JSON). The fingerprint is computed by the
    component's driver before TFX's cache check, so new or changed data re-runs
    the pipeline from here and unchanged data does not.
    """

    SPEC_CLASS = TfdsExampleGenSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
    DRIVER_CLASS = driver.Driver

    def __init__(
        self,
        dataset: str,
        *,
        version: str | None = None,
        splits: Mapping[str, str] | None = None,
        data_dir: str | None = None,
        builder_modules: Sequence[str] = tfds_io.DEFAULT_BUILDER_MODULES,
        allow_download: bool = False,
        num_shards: int = 1,
        max_examples_per_split: int | None = None,
    ):
        """Configures the component.

        Args:
            dataset: TFDS name with config if any (``'mnist'``, ``'imdb_reviews/plain_text'``).
            version: TFDS version; the builder's default if ``None``.
            splits: output split name -> TFDS split spec (``'train[:90%]'``);
                defaults to ``{'train': 'train', 'eval': 'test'}``.
            data_dir: TFDS data dir; TFDS' default if ``None``.
            builder_modules: modules imported first so local builders register.
            allow_download: whether a remote dataset may be downloaded.
            num_shards: files per split.
            max_examples_per_split: cap on examples per split (for smoke runs).
        """
        if isinstance(builder_modules, str):
            raise TypeError(
                f"builder_modules must be a list of module names, got the string {builder_modules!r}"
            )
        splits = dict(tfds_io.DEFAULT_SPLITS if splits is None else splits)
        tfds_io.check_arguments(dataset, splits, num_shards, max_examples_per_split)
        spec = TfdsExampleGenSpec(
            dataset=dataset,
            version=version,
            splits=json.dumps(splits),
            data_dir=data_dir,
            builder_modules=json.dumps(list(builder_modules)),
            allow_download=allow_download,
            num_shards=num_shards,
            max_examples_per_split=max_examples_per_split,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        super().__init__(spec=spec)

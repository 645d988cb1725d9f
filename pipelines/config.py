"""Pipeline configurations: plain data, importable without TFX.

A pipeline is a :class:`PipelineConfig`; ``pipelines/factory.py`` turns any
config into a TFX pipeline. Adding a model family's pipeline is one config in
one file plus its entry in ``pipelines/registry.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """A TFDS dataset and how its splits map onto the pipeline's train/eval splits."""

    name: str
    version: str | None = None
    splits: Mapping[str, str] = dataclasses.field(
        default_factory=lambda: {"train": "train", "eval": "test"})
    # Modules imported before ``tfds.builder`` so that local builders register.
    builder_modules: tuple[str, ...] = ("datasets",)


@dataclasses.dataclass(frozen=True)
class Threshold:
    """Blessing rule for one metric: bounds on its value, and optionally no
    regression against the last blessed model."""

    metric: str
    lower_bound: float | None = None
    upper_bound: float | None = None
    no_regression: bool = True
    higher_is_better: bool = True


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Everything that differs between two pipelines.

    Attributes:
        name: pipeline name (also the TFX pipeline name).
        description: one line for ``zoo list``.
        dataset: the TFDS source.
        preprocessing_fn: dotted path of the Transform ``preprocessing_fn``.
        transform_config: its ``custom_config``.
        model: registry name of the model family.
        hparams: overrides of the family's default hyperparameters.
        label_key: label feature (``None`` for unsupervised families).
        num_classes: number of label classes, for classifiers.
        thresholds: what the Evaluator requires to bless a model.
        schema_path: a curated schema (``schema.pbtxt``) to validate against;
            ``None`` infers one with SchemaGen.
        slice_features: extra TFMA slices (reported, never thresholded).
        serving_model_name: directory name under the serving base path.
        pretraining: an upstream stage, itself a whole pipeline config (its own
            data, preprocessing, model, thresholds and serving name), whose
            latest blessed model starts this pipeline's Trainer (TFX's
            ``base_model``; the family finds its Keras file in
            ``DataSpec.extras[models.base.BASE_MODEL]``). The two stages are
            cached separately, so editing this stage never re-runs pretraining.
        distribution: the Trainer's ``tf.distribute`` strategy, one of
            ``components.trainer.distribute.STRATEGIES`` (``none``, ``mirrored``:
            every GPU of the machine, ``multi_worker``: from ``TF_CONFIG``);
            ``None`` leaves it to ``ZOO_DISTRIBUTION`` (default ``none``).
    """

    name: str
    description: str
    dataset: DatasetConfig
    preprocessing_fn: str
    model: str
    transform_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    hparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    label_key: str | None = "label"
    num_classes: int | None = None
    thresholds: tuple[Threshold, ...] = ()
    schema_path: str | None = None
    slice_features: tuple[str, ...] = ()
    serving_model_name: str | None = None
    seed: int = 0
    pretraining: PipelineConfig | None = None
    distribution: str | None = None

    def __post_init__(self) -> None:
        from components.trainer.distribute import STRATEGIES  # stdlib only: no TensorFlow imported

        if self.distribution is not None and self.distribution not in STRATEGIES:
            raise ValueError(f"pipeline '{self.name}': distribution must be one of {', '.join(STRATEGIES)} "
                             f"(or None for $ZOO_DISTRIBUTION), got {self.distribution!r}")

    @property
    def model_name(self) -> str:
        return self.serving_model_name or self.name

    def with_overrides(self, **changes: Any) -> PipelineConfig:
        """A copy with fields replaced; ``hparams`` are merged, not replaced."""
        if "hparams" in changes:
            changes["hparams"] = {**self.hparams, **changes["hparams"]}
        return dataclasses.replace(self, **changes)

"""Hyperparameters every family shares, checked when they are made.

A family's hyperparameters are a keyword-only dataclass that extends
:class:`HParams` (or :class:`ImageHParams` for a family reading one image
feature), overriding the defaults it needs and adding its own fields. Generic
code (``ModelFamily.train``, the Trainer's ``run_fn``) reads the shared
fields directly.

>>> HParams(epochs=3).batch_size
64
>>> HParams(lr_schedule="linear")
Traceback (most recent call last):
...
ValueError: lr_schedule must be one of [None, 'cosine'], got 'linear'
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from models.common import PRECISIONS, check_choice
from models.features.image import IMAGE

LR_SCHEDULES = (None, "cosine")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_positive_int(name: str, value: Any) -> None:
    """``ValueError`` unless ``value`` is an int >= 1."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_positive(name: str, value: Any) -> None:
    """``ValueError`` unless ``value`` is a finite number > 0."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


@dataclasses.dataclass(kw_only=True)
class HParams:
    """What every family trains with.

    Attributes:
        epochs: passes over the training data (of the final stage, for staged families).
        batch_size: examples per training step.
        learning_rate: the optimizer's (initial) learning rate.
        lr_schedule: ``None`` (constant) or ``"cosine"`` (per-epoch cosine decay to 0).
        steps_per_epoch: ``None`` for one pass over the data per epoch, else the steps.
        seed: seed of the family's own random draws; the Trainer seeds the
            global generators and shuffling with it too.
        precision: ``"float32"``, ``"mixed_float16"`` or ``"mixed_bfloat16"``
            (a family lists those it supports in ``ModelFamily.precisions``).
        clipnorm: gradient-norm clipping, ``None`` for none.
        jit_compile: train with XLA (``model.jit_compile``, set by the Trainer
            after the family builds the model; a model with a layer that does
            not support XLA refuses it).
    """

    epochs: int = 10
    batch_size: int = 64
    learning_rate: float = 1e-3
    lr_schedule: str | None = None
    steps_per_epoch: int | None = None
    seed: int = 0
    precision: str = "float32"
    clipnorm: float | None = None
    jit_compile: bool = False

    def __post_init__(self) -> None:
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        check_positive("learning_rate", self.learning_rate)
        check_choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if self.steps_per_epoch is not None:
            check_positive_int("steps_per_epoch", self.steps_per_epoch)
        if not _is_int(self.seed):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        check_choice("precision", self.precision, PRECISIONS)
        if self.clipnorm is not None:
            check_positive("clipnorm", self.clipnorm)
        if not isinstance(self.jit_compile, bool):
            raise ValueError(f"jit_compile must be true or false, got {self.jit_compile!r}")


@dataclasses.dataclass(kw_only=True)
class ImageHParams(HParams):
    """:class:`HParams` of a family that reads one transformed image feature."""

    image_key: str = IMAGE

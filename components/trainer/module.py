"""TFX Trainer module file: one ``run_fn`` trains and exports any registered family.

The pipeline passes ``custom_config``::

    {"model": "cnn",                 # registry name
     "hparams": {"epochs": 15},      # overrides of the family's defaults
     "label_key": "label",           # None for unsupervised families
     "num_classes": 10,
     "seed": 0,                      # the pipeline's seed: hparams.seed unless hparams set it
     "save_keras": False,            # also save the model as a Keras file (a stage that feeds another)
     "distribution": "mirrored",     # optional: the tf.distribute strategy (distribute.py)
     "code_fingerprint": "..."}      # only for TFX's cache key (see components/fingerprint.py)

A Trainer given a ``base_model`` (a pretrained model from an upstream stage)
hands the family that model's Keras file in
``DataSpec.extras[models.base.BASE_MODEL]``.

Everything family-specific happens behind ``models.base.ModelFamily``:
``run_fn`` reads the shared hyperparameters (``batch_size``, ``seed``) of
:class:`models.hparams.HParams`, and writes into the ``model_run`` artifact
the training history (:data:`components.trainer.HISTORY_FILE`) and, for a
family with ``weight_images``, their figures (:mod:`components.figures`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from absl import logging
from tfx.components.trainer.fn_args_utils import FnArgs

from components.figures import Figure, write_figures
from components.trainer import HISTORY_FILE, keras_model_path
from components.trainer.data import data_spec, make_dataset
from components.trainer.distribute import apply_jit_compile, distribution_scope, start_distribution, sync_worker_state
from components.trainer.export import export_serving_model
from components.trainer.progress import EpochProgress, progress_stream
from models import registry
from models.base import BASE_MODEL, ModelFamily

# Weight images shown per figure: at most this many, in rows of WEIGHT_GRID_COLUMNS.
MAX_WEIGHT_IMAGES = 64
WEIGHT_GRID_COLUMNS = 8


def hparams_for(family: ModelFamily, config: Mapping[str, Any]) -> Any:
    """The family's hyperparameters from ``custom_config``: its ``hparams`` overrides,
    and the pipeline's ``seed`` unless those set one."""
    overrides = dict(config.get("hparams") or {})
    if config.get("seed") is not None:
        overrides.setdefault("seed", int(config["seed"]))
    return family.hparams(overrides)


def weight_figures(images: Mapping[str, np.ndarray]) -> list[Figure]:
    """``image_grid`` figures of a family's weight images (``(n, h, w[, c])`` raw weights each).

    Each image is scaled to its largest absolute weight (0 is grey, 0.5;
    the extremes 0 and 1); the first :data:`MAX_WEIGHT_IMAGES` fill whole rows
    of up to :data:`WEIGHT_GRID_COLUMNS`.

    >>> (figure,) = weight_figures({"filters": np.arange(-6.0, 6.0).reshape(3, 2, 2)})
    >>> figure.arrays["images"].shape, figure.arrays["images"].min(), figure.arrays["images"].max()
    ((1, 3, 2, 2), 0.0, 1.0)
    """
    figures = []
    for name, weights in images.items():
        weights = np.asarray(weights, np.float32)
        columns = min(WEIGHT_GRID_COLUMNS, len(weights))
        if not columns:
            continue
        shown = min(len(weights), MAX_WEIGHT_IMAGES) // columns * columns
        scale = np.abs(weights[:shown]).reshape(shown, -1).max(axis=1)
        scale = np.where(scale > 0, scale, 1.0).reshape(shown, *([1] * (weights.ndim - 1)))
        grid = (0.5 + 0.5 * weights[:shown] / scale).reshape(shown // columns, columns, *weights.shape[1:])
        figures.append(Figure(
            name, "image_grid", f"{name.replace('_', ' ')}: {shown} of {len(weights)}",
            caption=(f"The learned weights of the first {shown} of {len(weights)} units as images, each "
                     "scaled to its largest absolute weight (white positive, black negative, grey 0)."),
            arrays={"images": grid}))
    return figures


class _PhaseClock:
    """Seconds per phase of ``run_fn``, logged so a slow Trainer says where its time went."""

    def __init__(self) -> None:
        self.start, self.laps = time.perf_counter(), {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name], self.start = now - self.start, now

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.1f}" for name, seconds in self.laps.items())


def training_callbacks(model_run_dir: str) -> list[keras.callbacks.Callback]:
    """TensorBoard logs in the ``model_run`` artifact (``tensorboard --logdir <its uri>``), as
    TFX's examples write them, and the epoch progress line of a quiet ``zoo run``."""
    callbacks: list[keras.callbacks.Callback] = [
        keras.callbacks.TensorBoard(log_dir=model_run_dir, write_graph=False, update_freq="epoch")]
    stream = progress_stream()
    if stream is not None:
        callbacks.append(EpochProgress(stream))
    return callbacks


def run_fn(fn_args: FnArgs) -> None:
    config = fn_args.custom_config or {}
    fn_args = start_distribution(fn_args, config)  # multi_worker: strategy first, only the chief writes outputs
    family = registry.get(config["model"])
    hparams = hparams_for(family, config)
    keras.utils.set_random_seed(hparams.seed)
    clock = _PhaseClock()

    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    data = data_spec(tft_output, config.get("label_key"), config.get("num_classes"))
    if fn_args.base_model:
        base = keras_model_path(fn_args.base_model)
        if not tf.io.gfile.exists(base):
            raise ValueError(f"the base model {fn_args.base_model} has no Keras file {base}: a model that starts "
                             "another stage must come from a Trainer run with save_keras")
        data = dataclasses.replace(data, extras={**data.extras, BASE_MODEL: base})
    elif config.get("pretraining_stage"):
        raise ValueError(f"no blessed model from the pretraining stage '{config['pretraining_stage']}': its "
                         "Evaluator has blessed none of the models it trained (its metrics and reasons are in the "
                         "run's report and `zoo runs`), and this stage starts only from a blessed one; train that "
                         "stage longer or revise its thresholds")
    train_ds = make_dataset(fn_args.train_files, fn_args.data_accessor, tft_output,
                            data.label_key, hparams.batch_size, shuffle=True, seed=hparams.seed,
                            repeat=hparams.steps_per_epoch is not None)
    eval_ds = make_dataset(fn_args.eval_files, fn_args.data_accessor, tft_output,
                           data.label_key, hparams.batch_size, shuffle=False, seed=hparams.seed)

    clock.lap("data")
    with distribution_scope(config) as strategy:  # custom_config["distribution"] or ZOO_DISTRIBUTION (distribute.py)
        model = apply_jit_compile(family.build(hparams, data), hparams, family.name)  # hparams.jit_compile: XLA
        clock.lap("build")
        history = family.train(model, hparams, train_ds, eval_ds, training_callbacks(fn_args.model_run_dir))
        sync_worker_state(model, strategy)  # multi_worker: every worker's BatchNorm statistics averaged
    clock.lap("train")

    signatures = export_serving_model(model, family, hparams, data, tft_output,
                                      fn_args.serving_model_dir)
    if config.get("save_keras"):
        path = keras_model_path(fn_args.serving_model_dir)
        tf.io.gfile.makedirs(os.path.dirname(path))
        try:
            model.save(path)
        except (NotImplementedError, TypeError, ValueError) as error:
            raise ValueError(f"model '{family.name}' cannot be saved as a Keras file, so it cannot start "
                             f"another stage (its layers need get_config): {error}") from error
    clock.lap("export")
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HISTORY_FILE), "w") as f:
        json.dump({"model": family.name, "signatures": signatures,
                   "history": {k: [float(v) for v in vs] for k, vs in history.items()}}, f)
    figures = weight_figures(family.weight_images(model, hparams, data))
    if figures:
        write_figures(fn_args.model_run_dir, figures)
    clock.lap("records")
    logging.info("Trainer phases (s): %s", clock)

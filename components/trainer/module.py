"""TFX Trainer module file: one ``run_fn`` trains and exports any registered family.

The pipeline passes ``custom_config``::

    {"model": "cnn",                 # registry name
     "hparams": {"epochs": 15},      # overrides of the family's defaults
     "label_key": "label",           # None for unsupervised families
     "num_classes": 10,
     "seed": 0,
     "code_fingerprint": "..."}      # only for TFX's cache key (see components/fingerprint.py)

Everything family-specific happens behind ``models.base.ModelFamily``.
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx

import models
from components.trainer import HISTORY_FILE
from components.trainer.data import data_spec, make_dataset
from components.trainer.export import export_serving_model


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    config = fn_args.custom_config or {}
    family = models.get(config["model"])
    hparams = family.hparams(config.get("hparams"))
    seed = int(config.get("seed", 0))
    keras.utils.set_random_seed(seed)

    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    data = data_spec(tft_output, config.get("label_key"), config.get("num_classes"))
    batch_size = int(getattr(hparams, "batch_size", 64))
    train_ds = make_dataset(fn_args.train_files, fn_args.data_accessor, tft_output,
                            data.label_key, batch_size, shuffle=True, seed=seed)
    eval_ds = make_dataset(fn_args.eval_files, fn_args.data_accessor, tft_output,
                           data.label_key, batch_size, shuffle=False, seed=seed)

    model = family.build(hparams, data)
    history = family.train(model, hparams, train_ds, eval_ds)

    signatures = export_serving_model(model, family, hparams, data, tft_output,
                                      fn_args.serving_model_dir)
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HISTORY_FILE), "w") as f:
        json.dump({"model": family.name, "signatures": signatures,
                   "history": {k: [float(v) for v in vs] for k, vs in history.items()}}, f)

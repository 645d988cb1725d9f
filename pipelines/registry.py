"""The pipelines ``zoo`` knows, by name. Importing this module imports no TFX."""

from __future__ import annotations

import importlib

from pipelines.config import PipelineConfig

# name -> "module" holding ``CONFIG``, or "module:ATTRIBUTE". One line per pipeline.
PIPELINES: dict[str, str] = {
    "digits": "pipelines.digits",
    "digits_vae": "pipelines.digits_generative:VAE",
    "digits_gan": "pipelines.digits_generative:GAN",
    "digits_vanilla_gan": "pipelines.digits_generative:VANILLA_GAN",
    "digits_cgan": "pipelines.digits_generative:CONDITIONAL_GAN",
    "digits_ae": "pipelines.digits_generative:AUTOENCODER",
    "digits_dbn": "pipelines.digits_generative:DBN",
    "digits_aae": "pipelines.digits_generative:AAE",
    "digits_realnvp": "pipelines.digits_generative:REALNVP",
    "digits_lapgan": "pipelines.digits_generative:LAPGAN",
    "photos_srgan": "pipelines.super_resolution:PHOTOS_SRGAN",
    "reviews": "pipelines.text:REVIEWS",
    "dates": "pipelines.text:DATES",
    "bert_pretraining": "pipelines.bert:PRETRAINING",
    "reviews_bert": "pipelines.bert:REVIEWS",
    "pairs_bert": "pipelines.bert:PAIRS",
    "expressions_recursive_nn": "pipelines.trees:EXPRESSIONS_RECURSIVE_NN",
    "mackey_glass_esn": "pipelines.forecasting:MACKEY_GLASS_ESN",
    "mackey_glass_lstm": "pipelines.forecasting:MACKEY_GLASS_LSTM",
    "sunspots_esn": "pipelines.forecasting:SUNSPOTS_ESN",
}


def get(name: str) -> PipelineConfig:
    """The config of pipeline ``name``; the error lists the choices."""
    if name not in PIPELINES:
        raise KeyError(f"unknown pipeline '{name}'; choices: {', '.join(sorted(PIPELINES))}")
    module, _, attribute = PIPELINES[name].partition(":")
    return getattr(importlib.import_module(module), attribute or "CONFIG")


def names() -> list[str]:
    return sorted(PIPELINES)

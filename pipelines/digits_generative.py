"""Digits -> generative and energy-based families: VAE, GAN (DCGAN and vanilla
MLP), conditional GAN, autoencoder (anomaly score) and DBN.

The same data path as the CNN pipeline (TFDS ``digits``, curated schema, the
image Transform); only the family, its hyperparameters and what blesses it
differ. Generators are judged by the GenerativeEvaluator (negative ELBO,
Frechet distance and class consistency under a fixed reference classifier,
anomaly ROC AUC); the DBN, a classifier, by TFMA.
"""

import dataclasses

from pipelines.config import PipelineConfig, Threshold
from pipelines.digits import CONFIG as DIGITS


def _digits(name: str, model: str, description: str, *thresholds: Threshold) -> PipelineConfig:
    return dataclasses.replace(DIGITS, name=name, model=model, description=description,
                               thresholds=thresholds, serving_model_name=name, slice_features=())


VAE = _digits("digits_vae", "vae", "digits -> VAE (encode/decode/sample), blessed on held-out negative ELBO",
              Threshold("neg_elbo", upper_bound=40.0, higher_is_better=False),
              Threshold("sample_confidence", lower_bound=0.8, no_regression=False))
GAN = _digits("digits_gan", "gan", "digits -> DCGAN (generate), blessed on Frechet distance",
              Threshold("fid", upper_bound=60.0, higher_is_better=False))
VANILLA_GAN = _digits("digits_vanilla_gan", "vanilla_gan",
                      "digits -> vanilla GAN (MLP generator and discriminator), blessed on Frechet distance",
                      Threshold("fid", upper_bound=60.0, higher_is_better=False))
CONDITIONAL_GAN = _digits("digits_cgan", "conditional_gan",
                          "digits -> conditional DCGAN, blessed on share of samples of the requested class",
                          Threshold("class_consistency", lower_bound=0.9))
AUTOENCODER = _digits("digits_ae", "autoencoder",
                      "digits -> autoencoder anomaly score, blessed on clean-vs-corrupted ROC AUC",
                      Threshold("roc_auc", lower_bound=0.95))
DBN = dataclasses.replace(
    _digits("digits_dbn", "dbn", "digits -> DBN (greedy CD-k RBM pretraining, fine-tuned), accuracy >= 0.97",
            Threshold("sparse_categorical_accuracy", lower_bound=0.97)),
    slice_features=("label",))
AAE = _digits("digits_aae", "aae",
              "digits -> adversarial autoencoder (encode/decode/sample), blessed on Frechet distance and sample "
              "confidence of prior samples",
              Threshold("fid", upper_bound=90.0, higher_is_better=False),
              Threshold("sample_confidence", lower_bound=0.8, no_regression=False))
REALNVP = _digits("digits_realnvp", "realnvp",
                  "digits -> RealNVP flow (log_prob in bits/dim, sample), blessed on held-out bits per dimension "
                  "(256-level unit)",
                  Threshold("bits_per_dim", upper_bound=5.5, higher_is_better=False))
LAPGAN = _digits("digits_lapgan", "lapgan",
                 "digits -> LAPGAN (Laplacian pyramid 2x2 -> 4x4 -> 8x8, generate), blessed on Frechet distance",
                 Threshold("fid", upper_bound=60.0, higher_is_better=False))

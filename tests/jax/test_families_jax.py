"""Every registered family under ``KERAS_BACKEND=jax``, without TensorFlow: build with tiny
hyperparameters on a tiny synthetic ``DataSpec``, train a few steps on numpy batches (a
``keras.utils.PyDataset``, no ``tf.data``) with the family's own ``train``, check the loss falls,
and call every serving role's function on a batch (the outputs are JAX arrays).

Run with ``tests/jax/run.sh`` (``make test-jax``); the TensorFlow suite does not collect this file
(``tests/jax/conftest.py``). What cannot run without TensorFlow is listed below with the reason,
and its backend-neutral part is tested instead.
"""

from __future__ import annotations

import dataclasses
import doctest
import importlib
import importlib.util
import math
import pathlib
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

import jax
import keras
import numpy as np
import pytest

pytestmark = pytest.mark.jax

ROOT = pathlib.Path(__file__).resolve().parents[2]
# What a family module may fail to import here: TensorFlow and what only installs beside it.
TF_STACK = ("tensorflow", "tensorflow_text", "keras_hub")
# Family modules that cannot be imported without TensorFlow: module -> (its families, why).
NEEDS_TENSORFLOW = {
    "bert": (("bert_pretraining", "bert_classifier"),
             "models/bert.py and models/layers/bert_preprocessor.py import keras_hub at module level; "
             "keras-hub 0.25.1 requires tensorflow-text (so tensorflow) and imports tensorflow when imported "
             "(keras_hub/src/models/gemma3/gemma3_causal_lm_preprocessor.py), so neither the family nor its "
             "BertBackbone/MaskedLMHead can be imported without TensorFlow"),
}
# Families that run here except for a TensorFlow-only part: name -> what and why.
PARTLY = {
    "seq2seq": "the translate/translate_beam signatures turn ids into strings with TensorFlow string ops "
               "(a tf.constant vocabulary, tf.ragged, tf.strings) and Seq2Seq.train maps a tf.data dataset "
               "(teacher_forcing); tested here: the model on ids (fit on shift_targets) and the in-graph greedy "
               "and beam decode loops (models.seq2seq.decode) that the signatures wrap",
}


def family_modules() -> list[str]:
    """The family modules the registry imports (``models.registry.FAMILY_MODULES``)."""
    from models import registry
    return list(registry.FAMILY_MODULES)


def import_family_modules() -> dict[str, str]:
    """Imports every family module that can be imported without TensorFlow; returns module -> the
    module it could not import."""
    missing = {}
    for name in family_modules():
        try:
            importlib.import_module(f"models.{name}")
        except ModuleNotFoundError as error:
            if error.name not in TF_STACK:
                raise
            missing[name] = error.name
    return missing


MISSING = import_family_modules()

from models import registry  # noqa: E402
from models.base import DataSpec, FeatureInfo  # noqa: E402

# ------------------------------------------------------------------------------------------ data


class Batches(keras.utils.PyDataset):
    """``(features, label)`` (or ``features``) numpy batches, re-iterable, without tf.data."""

    def __init__(self, features: Mapping[str, np.ndarray], labels: np.ndarray | None = None,
                 batch_size: int = 16) -> None:
        super().__init__()
        self.features, self.labels, self.batch_size = dict(features), labels, batch_size
        self.count = len(next(iter(self.features.values())))

    def __len__(self) -> int:
        return math.ceil(self.count / self.batch_size)

    def __getitem__(self, index: int) -> Any:
        if index >= len(self):
            raise IndexError(index)
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        features = {key: value[rows] for key, value in self.features.items()}
        return features if self.labels is None else (features, self.labels[rows])


def digits(count: int = 64, classes: int = 10, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """8x8 images in [0, 1]: one random binary pattern per class plus noise, and their classes."""
    rng = np.random.default_rng(seed)
    patterns = (rng.uniform(size=(classes, 8, 8, 1)) > 0.5).astype("float64")
    labels = np.arange(count) % classes
    images = np.clip(patterns[labels] + rng.normal(0.0, 0.05, (count, 8, 8, 1)), 0.0, 1.0)
    return {"image": images.astype("float32")}, labels.astype("int64")


def token_ids(count: int = 48, length: int = 12, vocab: int = 30, classes: int = 3,
              seed: int = 1) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Padded token ids whose class is set by their first token."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(4, vocab, (count, length))
    ids[np.arange(count)[:, None] >= rng.integers(3, length, (count, 1)) + np.zeros((1, length), int)] = 0
    return {"text_ids": ids.astype("int64")}, (ids[:, 0] % classes).astype("int64")


def trees(width: int = 9) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Three post-order trees (a leaf, a chain, a balanced tree), repeated, and their classes."""
    from models.features import tree as contract

    shapes = [([5], [-1], [-1], [0]),
              ([3, 4, 2, 6, 7], [-1, -1, 0, -1, 2], [-1, -1, 1, -1, 3], [0, 0, 1, 0, 2]),
              ([3, 4, 2, 5, 6, 7, 8], [-1, -1, 0, -1, -1, 3, 2], [-1, -1, 1, -1, -1, 4, 5], [0, 0, 1, 0, 0, 1, 2])]
    fills = (0, -1, -1, -1)
    columns = [np.array([list(t[i]) + [fills[i]] * (width - len(t[i])) for t in shapes] * 4, "int64")
               for i in range(4)]
    return dict(zip(contract.INPUTS, columns)), np.array([1, 7, 4] * 4, "int64")


def windows(count: int = 96, window: int = 24, horizon: int = 4) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Sine windows (with the offset and scale features the forecast signature reads) and their futures."""
    t = np.arange(count + window + horizon)
    values = np.sin(2 * np.pi * t / 17.0) + 0.5 * np.sin(2 * np.pi * t / 45.9)
    past = np.stack([values[i:i + window] for i in range(count)]).astype("float32")
    future = np.stack([values[i + window:i + window + horizon] for i in range(count)]).astype("float32")
    return ({"window": past, "offset": np.zeros((count, 1), "float32"), "scale": np.ones((count, 1), "float32")},
            future)


def patches(count: int = 32, size: int = 16, seed: int = 2) -> tuple[dict[str, np.ndarray], None]:
    """Smooth RGB patches and their 2x2-averaged halves."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    phases = rng.uniform(0, 2 * np.pi, (count, 1, 1, 3))
    high = 0.5 + 0.4 * np.sin(2 * np.pi * (x[None, :, :, None] + y[None, :, :, None]) + phases)
    low = high.reshape(count, size // 2, 2, size // 2, 2, 3).mean(axis=(2, 4))
    return {"high_res": high.astype("float32"), "low_res": low.astype("float32")}, None


IMAGE = {"image": FeatureInfo((8, 8, 1), "float32")}


@dataclasses.dataclass(frozen=True)
class Case:
    """How one family is built, fed and judged here."""

    overrides: Mapping[str, Any]
    data: DataSpec
    batches: Callable[[], tuple[dict[str, np.ndarray], np.ndarray | None]]
    metric: str = "loss"   # what falls with training (model.evaluate's key)
    adversarial: bool = False  # a GAN: each network's step is checked alone (see test_gan_steps)
    batch_size: int = 16
    serving_only: tuple[str, ...] = ()  # features the serving functions read, the model does not


TINY_IMAGE = {"epochs": 8, "batch_size": 16, "learning_rate": 1e-2}
SERIES = DataSpec({"window": FeatureInfo((24,), "float32"), "offset": FeatureInfo((1,), "float32"),
                   "scale": FeatureInfo((1,), "float32")}, "future")
CASES: dict[str, Case] = {
    "cnn": Case({"filters": (4, 8), "dense_units": 16, "epochs": 8, "lr_schedule": None},
                DataSpec(IMAGE, "label", 10), digits),
    "dbn": Case({"hidden_units": (16, 8), "pretrain_epochs": 1, "epochs": 8, "batch_size": 16, "dropout": 0.0,
                 "learning_rate": 0.01}, DataSpec(IMAGE, "label", 10), digits),
    "rnn": Case({"units": 6, "embedding_dim": 5, "dropout": 0.0, "epochs": 8, "learning_rate": 0.01},
                DataSpec({"text_ids": FeatureInfo((12,), "int64")}, "label", 3, extras={"vocab_sizes": {"text": 30}}),
                token_ids),
    "recursive_nn": Case({"units": 8, "embedding_dim": 4, "hidden_units": 8, "epochs": 15, "learning_rate": 0.01},
                         DataSpec({k: FeatureInfo((9,), "int64") for k in ("node_ids", "left_child", "right_child",
                                                                          "levels")},
                                  "label", 10, extras={"vocab_sizes": {"tree_tokens": 9}}), trees, batch_size=3),
    "lstm_forecaster": Case({"units": 8, "depth": 1, "horizon": 4, "epochs": 6, "lr_schedule": None}, SERIES,
                            windows, serving_only=("offset", "scale")),
    "esn": Case({"units": 40, "horizon": 4, "washout": 5, "ridge": 0.3}, SERIES, windows,
                serving_only=("offset", "scale")),
    "vae": Case({"latent_dim": 2, "filters": (4, 8), **TINY_IMAGE}, DataSpec(IMAGE), lambda: (digits()[0], None)),
    "autoencoder": Case({"code_dim": 4, "filters": (4, 8), **TINY_IMAGE}, DataSpec(IMAGE),
                        lambda: (digits()[0], None)),
    "realnvp": Case({"checkerboard_layers": 2, "channel_layers": 0, "hidden": 8, "conv_layers": 1,
                     "dequantization_samples": 1, **TINY_IMAGE, "learning_rate": 5e-3}, DataSpec(IMAGE),
                    lambda: (digits()[0], None)),
    "aae": Case({"latent_dim": 2, "filters": (4, 8), "discriminator_units": (8,), "prior": "mixture", **TINY_IMAGE},
                DataSpec(IMAGE, "label", 10), digits, metric="reconstruction_nll"),
    "srgan": Case({"filters": 4, "residual_blocks": 1, "discriminator_filters": (4,), "pretrain_epochs": 2,
                   "epochs": 4, "learning_rate": 1e-3, "adversarial_weight": 1e-3, "lr_schedule": None},
                  DataSpec({"high_res": FeatureInfo((16, 16, 3), "float32"),
                            "low_res": FeatureInfo((8, 8, 3), "float32")}), patches, metric="content_loss",
                  batch_size=8),
    "gan": Case({"latent_dim": 4, "generator_filters": (8, 4), "discriminator_filters": (4, 8), "epochs": 2},
                DataSpec(IMAGE), lambda: (digits()[0], None), adversarial=True),
    "conditional_gan": Case({"latent_dim": 4, "generator_filters": (8, 4), "discriminator_filters": (4, 8),
                             "epochs": 2}, DataSpec(IMAGE, "label", 10), digits, adversarial=True),
    "vanilla_gan": Case({"latent_dim": 4, "hidden_units": (16, 32), "epochs": 2}, DataSpec(IMAGE),
                        lambda: (digits()[0], None), adversarial=True),
    "lapgan": Case({"latent_dim": 4, "noise_dim": 2, "hidden_units": (8,), "filters": 4, "epochs": 2},
                   DataSpec(IMAGE), lambda: (digits()[0], None), adversarial=True),
    "seq2seq": Case({"units": 8, "embedding_dim": 6, "dropout": 0.0, "max_decode_length": 6, "beam_width": 2,
                     "learning_rate": 0.01},
                    DataSpec({"source_ids": FeatureInfo((7,), "int64")}, "target", None,
                             extras={"vocab_sizes": {"source": 20, "target": 9}}), lambda: translations()),
}


def translations(count: int = 32, seed: int = 3) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Source ids and ``[<s>, y.., </s>, pad..]`` targets: each source token mapped into the target vocabulary."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 6, count)
    source = np.zeros((count, 7), "int64")
    target = np.zeros((count, 7), "int64")
    for i, n in enumerate(lengths):
        source[i, :n] = rng.integers(4, 20, n)
        target[i, 0], target[i, 1:n + 1], target[i, n + 1] = 1, source[i, :n] % 5 + 4, 2
    return {"source_ids": source}, target


# -------------------------------------------------------------------------------------- helpers


def build(name: str) -> tuple[Any, Any, Any, Case]:
    case = CASES[name]
    family = registry.get(name)
    hparams = family.hparams(dict(case.overrides))
    keras.utils.set_random_seed(0)
    return family, hparams, family.build(hparams, case.data), case


def evaluate(model: keras.Model, batches: Batches, key: str) -> float:
    keras.utils.set_random_seed(1)
    return float(model.evaluate(batches, verbose=0, return_dict=True)[key])


def signature_inputs(input_signature: Mapping[str, tuple[Any, str]], data: DataSpec) -> dict[str, Any]:
    """A batch of 2 for an explicit input signature (a scalar is a count: 3)."""
    rng = np.random.default_rng(4)
    inputs = {}
    for key, (shape, dtype) in input_signature.items():
        if not shape:
            inputs[key] = np.array(3, dtype)
            continue
        shape = tuple(2 if d is None else d for d in shape)
        if key == "image" and None in input_signature[key][0][1:]:  # any size: SRGAN's upscale
            shape = (2, 5, 6, *shape[3:])
        if np.issubdtype(np.dtype(dtype), np.integer):
            inputs[key] = rng.integers(0, data.num_classes or 2, shape).astype(dtype)
        else:
            inputs[key] = rng.uniform(size=shape).astype(dtype)
    return inputs


def check_outputs(name: str, outputs: Mapping[str, Any]) -> None:
    assert outputs, f"signature {name} returned nothing"
    for key, value in outputs.items():
        assert isinstance(value, jax.Array), f"{name}/{key} is a {type(value).__name__}, not a JAX array"
        if jax.numpy.issubdtype(value.dtype, jax.numpy.floating):
            assert bool(jax.numpy.all(jax.numpy.isfinite(value))), f"{name}/{key} is not finite"


def trainable(layer: keras.layers.Layer) -> list[np.ndarray]:
    return [np.array(keras.ops.convert_to_numpy(w)) for w in layer.trainable_weights]


# ---------------------------------------------------------------------------------------- tests


def test_the_backend_is_jax_and_tensorflow_is_absent():
    assert keras.backend.backend() == "jax"
    assert importlib.util.find_spec("tensorflow") is None


def test_every_family_is_covered():
    """Every family registers here (or its module is listed as needing TensorFlow), and each one
    registered has a case: a new family cannot slip past the JAX target."""
    assert set(MISSING) <= set(NEEDS_TENSORFLOW), f"family modules that do not import without TensorFlow: {MISSING}"
    for module, (families, _) in NEEDS_TENSORFLOW.items():
        if module not in MISSING:
            pytest.fail(f"models/{module}.py imports without TensorFlow now: give {families} cases here")
        assert not set(families) & set(registry.names())
    unlisted = set(registry.names()) - set(CASES)
    assert not unlisted, f"families with no JAX case: {sorted(unlisted)}"
    assert not set(CASES) - set(registry.names()), "cases for families that do not register"


def test_registry_names_the_families_it_cannot_import_without_tensorflow():
    """``registry.names()`` runs here (the families that import) and asking for a BERT family says why not."""
    code = ("from models import registry\nprint(sorted(registry.names()))\n"
            "try:\n    registry.get('bert_classifier')\nexcept KeyError as e:\n    print(e)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'cnn'" in result.stdout and "models/bert.py needs" in result.stdout, result.stdout


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if not c.adversarial and n != "seq2seq"))
def test_family_trains_and_serves_under_jax(name):
    family, hparams, model, case = build(name)
    features, labels = case.batches()
    batches = Batches({k: v for k, v in features.items() if k not in case.serving_only}, labels, case.batch_size)
    # "before" on a twin (same seed): evaluating first would build the optimizer before train does
    before = evaluate(build(name)[2], batches, case.metric)
    history = family.train(model, hparams, batches, None)
    after = evaluate(model, batches, case.metric)
    assert history and all(np.all(np.isfinite(v)) for v in history.values()), history
    assert after < 0.97 * before, f"{name}: {case.metric} {before:.4f} -> {after:.4f}"
    if name in ("aae", "srgan"):  # every optimizer stepped on every batch (SRGAN's pretraining included)
        steps = len(batches) * (hparams.epochs + getattr(hparams, "pretrain_epochs", 0))
        for optimizer in model.optimizer_variables():
            assert int(keras.ops.convert_to_numpy(getattr(model, optimizer).iterations)) == steps, optimizer

    signatures = family.signatures(model, hparams, case.data)
    assert set(signatures) == set(family.signature_roles)
    for signature_name, signature in signatures.items():
        if signature.input_signature is None:
            inputs = {key: value[:4] for key, value in features.items()}
        else:
            inputs = signature_inputs(signature.input_signature, case.data)
        check_outputs(signature_name, signature.fn(inputs))


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.adversarial))
def test_gan_steps_under_jax(name):
    """The shared two-optimizer step: the game trains both networks; with the generator's learning
    rate at 0 only the discriminator moves and its loss falls; with the discriminator's at 0, the
    generator's loss falls; the generate signature serves."""
    family, hparams, model, case = build(name)
    features, labels = case.batches()
    batches = Batches(features, labels, case.batch_size)
    generator, discriminator = trainable(model.generator), trainable(model.discriminator)
    history = family.train(model, hparams, batches, batches)
    assert {"d_loss", "g_loss", "val_d_loss", "val_g_loss"} <= set(history), history
    assert all(np.all(np.isfinite(v)) for v in history.values()), history
    for before, network in ((generator, model.generator), (discriminator, model.discriminator)):
        assert any(not np.allclose(a, b) for a, b in zip(before, trainable(network))), f"{network.name} did not train"

    for net, loss in (("discriminator", "d_loss"), ("generator", "g_loss")):
        frozen_net = "generator" if net == "discriminator" else "discriminator"
        moving, frozen = ((model.d_optimizer, model.g_optimizer) if net == "discriminator"
                          else (model.g_optimizer, model.d_optimizer))
        moving.learning_rate, frozen.learning_rate = 2e-3, 0.0
        weights = trainable(getattr(model, frozen_net))
        before = evaluate(model, batches, loss)
        model.fit(batches, epochs=6, verbose=0)
        after = evaluate(model, batches, loss)
        assert after < before, f"{name}, {net} alone: {loss} {before:.4f} -> {after:.4f}"
        assert all(np.allclose(a, b) for a, b in zip(weights, trainable(getattr(model, frozen_net))))

    signature = family.signatures(model, hparams, case.data)["generate"]
    inputs = signature_inputs(signature.input_signature, case.data)
    outputs = signature.fn(inputs)
    check_outputs("generate", outputs)
    assert tuple(outputs["image"].shape) == (2, 8, 8, 1)


def test_seq2seq_model_and_decoding_under_jax():
    """Seq2seq's backend-neutral part (see PARTLY): the teacher-forced model on ids, and greedy and
    beam decoding in-graph."""
    from models.seq2seq import DECODER_INPUT, decode, shift_targets

    family, hparams, model, case = build("seq2seq")
    features, target = case.batches()
    decoder_input, next_ids, weights = (np.asarray(keras.ops.convert_to_numpy(t)) for t in shift_targets(target))
    inputs = {"source_ids": features["source_ids"], DECODER_INPUT: decoder_input}
    before = float(model.evaluate(inputs, next_ids, sample_weight=weights, verbose=0, return_dict=True)["loss"])
    model.fit(inputs, next_ids, sample_weight=weights, batch_size=8, epochs=10, verbose=0)
    after = float(model.evaluate(inputs, next_ids, sample_weight=weights, verbose=0, return_dict=True)["loss"])
    assert after < 0.9 * before, (before, after)
    for beam in (False, True):
        out = decode(model, hparams, keras.ops.convert_to_tensor(features["source_ids"][:3]), beam=beam)
        check_outputs(f"decode(beam={beam})", out)
        assert tuple(out["ids"].shape) == (3, hparams.max_decode_length)
        assert int(jax.numpy.max(out["ids"])) < 9


@pytest.mark.parametrize("module", ["models.common", "models.gan", "models.aae", "models.srgan", "models.lapgan",
                                    "models.layers.tree"])
def test_doctests_under_jax(module):
    """The examples of the shared step and of the families on it run under JAX too."""
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted and not result.failed, result

"""The contract every model family implements.

A *family* is one file in ``models/`` that subclasses :class:`ModelFamily`
(:class:`ClassifierFamily` for a classifier, :class:`GenerativeFamily` for a
model that owns its training step) and registers itself with
:func:`models.registry.register`. The generic TFX Trainer module
(``components/trainer/module.py``'s ``run_fn``) and the exporter
(``components/trainer/export.py``) only ever talk to this interface, so the
pipeline code has no special case for any family. A family declares:

* ``hparams_cls``: its hyperparameters, a keyword-only dataclass extending
  :class:`models.hparams.HParams` (epochs, batch size, learning rate and
  schedule, seed, precision, clipping), validated when made;
  :meth:`ModelFamily.hparams` applies a pipeline's overrides to it.
* ``task``: what judges it (one of :data:`TASKS`): TFMA for classifiers,
  ``components/generative_evaluator`` for generators,
  ``components/seq2seq_evaluator`` for translators.
* ``signature_roles``: each served signature and what it means (one of
  :data:`ROLES`); ``main_signature`` is also served as ``serving_default``.
  Evaluators and the report pick signatures by role.
* ``precisions``: the ``precision`` settings it can train in, and
  ``supports_jit_compile``: whether it can train under XLA (``jit_compile``).

and implements:

1. ``build(hparams, data)``: a *compiled* ``keras.Model`` whose ``fit`` does
   the right thing for the family. ``data`` is a :class:`DataSpec`: the
   transformed features, label and vocabularies, whose names the
   Transform-to-model contract in :mod:`models.features` fixes.
2. ``train(model, hparams, train_ds, eval_ds, callbacks)``: the training
   schedule. The default is :meth:`ModelFamily.fit`, one ``model.fit`` for
   ``hparams.epochs`` (with the cosine schedule when asked); families with
   stages override it.
3. ``signatures(model, hparams, data)``: the serving functions. A
   :class:`Signature` whose ``input_signature`` is ``None`` takes *transformed
   features*; the exporter wraps it twice, once behind tf.Example parsing plus
   the Transform graph (``<name>``, and ``serving_default`` for the main
   signature) and once on raw, JSON-friendly features (``<name>_raw``). A
   signature with an explicit ``input_signature`` (a latent vector, a class
   id) is exported as it is.
4. optionally ``weight_images(model, hparams, data)``: learned weights that
   read as images (a DBN's first-layer filters), which the Trainer writes as
   a figure for the report.

How the families the product carries plug in:

* Supervised classifiers (CNN, stacked Bi-GRU/LSTM, DBN):
  :class:`ClassifierFamily` checks the labels, makes the ``keras.Input``s
  from the data, adds the softmax head, compiles, and serves ``predict``
  (probabilities and class ids); a family writes only its body. TFMA judges
  the ``probabilities`` output.
* Seq2seq with attention: ``build`` returns the teacher-forced training model;
  ``signatures`` run the encoder once and the decoder in a
  ``keras.ops.while_loop`` (greedy or beam), so decoding lives inside the
  exported graph: a raw source string in, decoded string and attention
  weights out.
* Generative models (VAE, GAN, autoencoders): :class:`GenerativeFamily`;
  the model ``build`` returns is a ``keras.Model`` subclass that owns its
  training step. A VAE adds its KL term in ``compute_loss``; a GAN overrides
  ``train_step`` with two optimizers. Their signatures are
  ``encode``/``decode``/``sample``, ``generate``, ``score`` and so on.
* Energy-based models: an RBM trains by contrastive divergence (the CD-k
  gradient is the gradient of a free-energy difference with the negative
  sample held constant); a DBN's ``train`` pretrains its RBMs greedily, layer
  by layer, before fine-tuning it as a classifier.

Family files import Keras only (never TFX, never ``tf.keras``).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from models.common import make_optimizer
from models.features import feature_shape
from models.features.image import image_shape
from models.hparams import HParams, ImageHParams

# Tasks the pipelines know how to validate. The pipeline picks its Evaluator
# from the task, never from the family name.
CLASSIFICATION = "classification"
SEQ2SEQ = "seq2seq"
GENERATIVE = "generative"
FORECASTING = "forecasting"        # a window of a series -> the next horizon (regression)
MASKED_LANGUAGE_MODEL = "masked_language_model"  # pretraining: masked tokens (and next sentence)
SUPER_RESOLUTION = "super_resolution"  # an image at a higher resolution than it was given
TASKS = (CLASSIFICATION, SEQ2SEQ, GENERATIVE, FORECASTING, MASKED_LANGUAGE_MODEL, SUPER_RESOLUTION)

# What a served signature means. A family declares the role of each signature
# it exports (``ModelFamily.signature_roles``); evaluators and the report pick
# signatures by role, never by guessing from names or variable paths.
CLASSIFY = "classify"    # features -> class probabilities (and ids)
GENERATE = "generate"    # latent (and optionally a class) -> images
ENCODE = "encode"        # features -> latent statistics or codes
DECODE = "decode"        # latent -> images
SAMPLE = "sample"        # a count -> images drawn from the prior
SCORE = "score"          # features -> an anomaly score per example
TRANSLATE = "translate"  # a source string -> a decoded target string
FEATURES = "features"    # features -> learned representation (an embedding)
DENSITY = "density"      # features -> exact log-likelihood (bits per dimension)
UPSCALE = "upscale"      # a low-resolution image -> the image at a higher resolution
FORECAST = "forecast"    # a window of past values -> the next values over the horizon
FILL_MASK = "fill_mask"  # a text with a [MASK] token -> the most likely tokens and their scores
MASKED_LM = "masked_lm"  # held-out text -> masked-token hits and next-sentence probabilities
ROLES = (CLASSIFY, GENERATE, ENCODE, DECODE, SAMPLE, SCORE, TRANSLATE, FEATURES, DENSITY, UPSCALE,
         FORECAST, FILL_MASK, MASKED_LM)


# ``DataSpec.extras`` key: the Keras file of the pretrained model a Trainer starts
# from (a pipeline's pretraining stage, TFX's ``base_model``), when there is one.
BASE_MODEL = "base_model"


@dataclasses.dataclass(frozen=True)
class FeatureInfo:
    """Shape (without the batch axis) and dtype name of one transformed feature."""

    shape: tuple[int, ...]
    dtype: str


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What a family may know about its (transformed) data.

    Attributes:
        features: transformed model inputs by name (the label excluded).
        label_key: name of the label feature, or ``None`` for unsupervised data.
        num_classes: number of label classes, where there is a label.
        extras: anything else the preprocessing knows (vocabulary sizes, ...).
    """

    features: Mapping[str, FeatureInfo]
    label_key: str | None = None
    num_classes: int | None = None
    extras: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Signature:
    """One serving function of an exported model.

    Attributes:
        fn: ``fn(inputs) -> dict of tensors``. With ``input_signature=None``
            ``inputs`` is the dict of transformed features; otherwise it is a
            dict keyed like ``input_signature``.
        input_signature: ``None`` for "transformed features", or a mapping of
            input name to ``(shape, dtype)`` with ``None`` for the batch axis.
    """

    fn: Callable[[Mapping[str, Any]], Mapping[str, Any]]
    input_signature: Mapping[str, tuple[Sequence[int | None], str]] | None = None


def cosine_factor(epoch: int, epochs: int) -> float:
    """The cosine schedule's multiplier of the initial learning rate at ``epoch`` (0-based).

    >>> [round(cosine_factor(e, 4), 3) for e in range(4)]
    [1.0, 0.854, 0.5, 0.146]
    """
    return 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))


class CosineDecay(keras.callbacks.Callback):
    """Per-epoch cosine decay of one or more optimizers' learning rates towards 0.

    ``rates`` maps a history name to ``(optimizer, initial rate)``; ``None``
    stands for the model's own optimizer. Each epoch's rate is logged under
    its name (``learning_rate`` for a single optimizer).
    """

    def __init__(self, epochs: int, rates: Mapping[str, tuple[Any, float]]) -> None:
        super().__init__()
        self.epochs, self.rates = epochs, dict(rates)

    def _optimizers(self) -> dict[str, tuple[Any, float]]:
        return {name: (optimizer or self.model.optimizer, rate) for name, (optimizer, rate) in self.rates.items()}

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        for optimizer, rate in self._optimizers().values():
            optimizer.learning_rate = rate * cosine_factor(epoch, self.epochs)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            for name, (optimizer, _) in self._optimizers().items():
                logs[name] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def cosine_schedule(learning_rate: float, epochs: int) -> keras.callbacks.Callback:
    """Per-epoch cosine decay of the model's learning rate from ``learning_rate`` towards 0."""
    return CosineDecay(epochs, {"learning_rate": (None, learning_rate)})


def _admits_none(hint: Any) -> bool:
    """Whether a (resolved) type hint names ``None``: ``X | None``, ``Optional[X]``."""
    if hint is None or hint is type(None):
        return True
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_admits_none(arg) for arg in typing.get_args(hint))
    return False


class ModelFamily:
    """Base class of a model family. See the module docstring for the contract.

    Subclasses set ``name``, ``hparams_cls`` (an :class:`~models.hparams.HParams`
    dataclass), ``task`` and ``signature_roles``, and implement ``build`` and
    ``signatures``.
    """

    name: str = ""
    hparams_cls: type[HParams] = HParams
    task: str = CLASSIFICATION
    # The signature exported as ``serving_default`` (behind tf.Example parsing).
    main_signature: str = "predict"
    # Signature name -> role (one of ``ROLES``): what each served signature means.
    signature_roles: Mapping[str, str] = types.MappingProxyType({})
    # The ``precision`` hyperparameter values the family can train in.
    precisions: tuple[str, ...] = ("float32",)
    # Whether it can train with ``jit_compile=True`` (XLA); ``False`` where its step has ops XLA cannot compile.
    supports_jit_compile: bool = True

    def signatures_with_role(self, role: str) -> list[str]:
        """Names of the signatures this family serves in ``role``."""
        return [name for name, r in self.signature_roles.items() if r == role]

    def hparams(self, overrides: Mapping[str, Any] | None = None) -> Any:
        """Returns the family's hyperparameters with ``overrides`` applied.

        Unknown names raise ``ValueError`` naming the known ones, so a typo in
        a pipeline config never trains silently with the default; so do values
        that ``hparams_cls`` rejects and a precision the family cannot train
        in. JSON configs cannot write ``None``: the string ``"none"`` (any
        case) stands for it in every field whose type admits ``None``.
        """
        overrides = dict(overrides or {})
        known = {f.name for f in dataclasses.fields(self.hparams_cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(
                f"unknown hyperparameter(s) {unknown} for model '{self.name}'; "
                f"known: {sorted(known)}")
        hints = typing.get_type_hints(self.hparams_cls)
        for name, value in overrides.items():
            if isinstance(value, str) and value.lower() == "none" and _admits_none(hints[name]):
                overrides[name] = None
        hparams = self.hparams_cls(**overrides)
        if hparams.precision not in self.precisions:
            raise ValueError(f"model '{self.name}' trains in precision {list(self.precisions)}; "
                             f"got {hparams.precision!r}")
        if hparams.jit_compile and not self.supports_jit_compile:
            raise ValueError(f"model '{self.name}' cannot train with jit_compile=True (XLA cannot compile its step)")
        return hparams

    def build(self, hparams: Any, data: DataSpec) -> keras.Model:
        """Returns a compiled model ready for ``train``."""
        raise NotImplementedError

    def learning_rates(self, model: keras.Model, hparams: Any) -> dict[str, tuple[Any, float]]:
        """The optimizers a learning-rate schedule drives: history name -> (optimizer, initial rate)."""
        return {"learning_rate": (model.optimizer, hparams.learning_rate)}

    def fit(self, model: keras.Model, hparams: Any, train_ds: Any, eval_ds: Any,
            callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict[str, list[float]]:
        """One ``model.fit`` of ``hparams.epochs`` (of ``hparams.steps_per_epoch`` steps, if set);
        returns the per-epoch history (metric -> values).

        With ``hparams.lr_schedule == "cosine"`` the learning rates of
        :meth:`learning_rates` follow a cosine decay to zero over the epochs.
        """
        callbacks = list(callbacks)
        if hparams.lr_schedule == "cosine":
            callbacks.append(CosineDecay(hparams.epochs, self.learning_rates(model, hparams)))
        history = model.fit(
            train_ds,
            validation_data=eval_ds,
            epochs=hparams.epochs,
            steps_per_epoch=hparams.steps_per_epoch,
            callbacks=callbacks,
            verbose=2,
        )
        return history.history

    def train(self, model: keras.Model, hparams: Any, train_ds: Any, eval_ds: Any,
              callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict[str, list[float]]:
        """Trains ``model``; returns the per-epoch history. The default is :meth:`fit`."""
        return self.fit(model, hparams, train_ds, eval_ds, callbacks)

    def signatures(self, model: keras.Model, hparams: Any, data: DataSpec) -> dict[str, Signature]:
        """Returns the serving functions, keyed by signature name."""
        raise NotImplementedError

    def weight_images(self, model: keras.Model, hparams: Any, data: DataSpec) -> Mapping[str, np.ndarray]:
        """Learned weights that read as images, by figure name: arrays ``(n, height, width)``
        (or ``(n, height, width, channels)``) of raw weights. None by default."""
        return {}


class ClassifierFamily(ModelFamily):
    """A family whose model maps the features to class probabilities.

    A subclass names its input features (:meth:`input_features`) and builds
    its :meth:`body` on the ``keras.Input``s made from the data; this class
    checks that the data is labelled, adds the ``probabilities`` softmax head
    (float32 under any precision) and compiles with
    :func:`models.common.make_optimizer`, sparse categorical cross-entropy and
    accuracy. A family whose model is not a functional body overrides
    :meth:`build_model` instead.
    """

    task = CLASSIFICATION
    main_signature = "predict"
    signature_roles = types.MappingProxyType({"predict": CLASSIFY})

    def input_features(self, hparams: Any) -> tuple[str, ...]:
        """The transformed features the model reads."""
        raise NotImplementedError

    def body(self, hparams: Any, data: DataSpec, inputs: Mapping[str, Any]) -> Any:
        """The layers from ``inputs`` (feature name -> ``keras.Input``) to what the softmax head reads."""
        raise NotImplementedError

    def inputs(self, hparams: Any, data: DataSpec) -> dict[str, Any]:
        """One ``keras.Input`` per input feature, of its transformed shape and dtype."""
        return {key: keras.Input(shape=feature_shape(data.features, key), dtype=data.features[key].dtype,
                                 name=key)
                for key in self.input_features(hparams)}

    def build_model(self, hparams: Any, data: DataSpec) -> keras.Model:
        """The (uncompiled) model: inputs, body, softmax head."""
        inputs = self.inputs(hparams, data)
        features = self.body(hparams, data, inputs)  # built first: layer order fixes the seeded initial weights
        probabilities = keras.layers.Dense(data.num_classes, activation="softmax", dtype="float32",
                                           name="probabilities")(features)
        return keras.Model(inputs, probabilities, name=self.name)

    def build(self, hparams: Any, data: DataSpec) -> keras.Model:
        if data.num_classes is None or data.num_classes < 2:
            raise ValueError(f"the '{self.name}' classifier needs labelled data with at least 2 classes "
                             f"(DataSpec.num_classes); got {data.num_classes}")
        model = self.build_model(hparams, data)
        self.compile(model, hparams)
        return model

    def compile(self, model: keras.Model, hparams: Any, learning_rate: float | None = None) -> None:
        """A fresh optimizer (at ``learning_rate``, default the hyperparameters'), the classifier's loss and metric."""
        model.compile(optimizer=make_optimizer(hparams, learning_rate), loss="sparse_categorical_crossentropy",
                      metrics=["sparse_categorical_accuracy"])

    def signatures(self, model: keras.Model, hparams: Any, data: DataSpec) -> dict[str, Signature]:
        feature_keys = self.input_features(hparams)

        def predict(features: Mapping[str, Any]) -> dict[str, Any]:
            probabilities = model({k: features[k] for k in feature_keys}, training=False)
            return {
                "probabilities": probabilities,
                "classes": keras.ops.argmax(probabilities, axis=-1),
            }

        return {"predict": Signature(predict)}


class GenerativeFamily(ModelFamily):
    """A generative family on one image feature (``hparams.image_key``) whose model, a
    ``keras.Model`` subclass, owns its training step (``compute_loss`` or ``train_step``).

    A subclass implements :meth:`build_model`; this class finds the image
    shape in the data, creates the model's weights (:meth:`create_weights`)
    and compiles it (:meth:`compile`: one Adam from the hyperparameters).
    """

    task = GENERATIVE
    hparams_cls = ImageHParams

    def build_model(self, hparams: Any, data: DataSpec, shape: tuple[int, int, int]) -> keras.Model:
        """The model for images of ``shape`` (height, width, channels)."""
        raise NotImplementedError

    def create_weights(self, model: keras.Model, hparams: Any, shape: tuple[int, int, int]) -> None:
        """Creates the model's weights: by default one call on a blank image."""
        model({hparams.image_key: keras.ops.zeros((1, *shape))})

    def compile(self, model: keras.Model, hparams: Any) -> None:
        model.compile(optimizer=make_optimizer(hparams))

    def build(self, hparams: Any, data: DataSpec) -> keras.Model:
        shape = image_shape(data.features, hparams.image_key)
        model = self.build_model(hparams, data, shape)
        self.create_weights(model, hparams, shape)
        self.compile(model, hparams)
        return model

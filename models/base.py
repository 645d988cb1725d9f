"""The contract every model family implements.

A *family* is one file in ``models/`` that subclasses :class:`ModelFamily` and
registers itself with :func:`models.registry.register`. The generic TFX
Trainer module (``components/modules/trainer.py``) only ever talks to this
interface, so the pipeline code has no special case for any family:

1. ``build(hparams, data)`` returns a *compiled* ``keras.Model`` whose
   ``fit`` does the right thing for the family.
2. ``train(model, hparams, train_ds, eval_ds, callbacks)`` runs the training
   schedule. The default is one ``model.fit``. Families with stages override it.
3. ``signatures(model, hparams, data)`` returns the serving functions. A
   :class:`Signature` whose ``input_signature`` is ``None`` takes *transformed
   features*; the exporter wraps it twice, once behind tf.Example parsing plus
   the Transform graph (``serving_default`` for the family's main signature)
   and once on raw, JSON-friendly features (``<name>_raw``). A signature with
   an explicit ``input_signature`` (a latent vector, a class id) is exported
   as it is.

How each family the product carries plugs in, with no pipeline change:

* Supervised classifiers (CNN, stacked Bi-GRU/LSTM): the default ``train``
  and :class:`ClassifierFamily`'s ``signatures`` (probabilities and class ids);
  the Evaluator is TFMA on the ``probabilities`` output.
* Seq2seq with attention: ``build`` returns the teacher-forced training model;
  ``signatures`` returns a function that runs the encoder once and the decoder
  in a ``keras.ops.while_loop`` (greedy or beam), so decoding lives inside
  the exported graph: a raw source string in, decoded string and attention
  weights out.
* BERT-style encoder: ``train`` runs two stages, masked-LM pretraining (the
  80/10/10 masking is a layer of the pretraining model) and then fine-tuning
  of a classification head on the same encoder.
* Generative models: the model returned by ``build`` is a ``keras.Model``
  subclass that owns its training step. A VAE adds its KL term in
  ``compute_loss``; a GAN overrides ``train_step`` with two optimizers; an RBM
  or DBN trains by contrastive divergence (the CD-k gradient is the gradient of
  a free-energy difference with the negative sample held constant) and a DBN's
  ``train`` pretrains its RBMs greedily, layer by layer, before fine-tuning.
  Their ``signatures`` are ``encode``/``decode``/``sample``, ``generate``,
  ``classify``/``features`` and so on; ``task`` tells the pipeline which
  evaluation component judges them.

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

# Tasks the pipelines know how to validate. The pipeline picks its Evaluator
# from the task, never from the family name.
CLASSIFICATION = "classification"
SEQ2SEQ = "seq2seq"
GENERATIVE = "generative"
TASKS = (CLASSIFICATION, SEQ2SEQ, GENERATIVE)

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
FEATURES = "features"    # features -> learned representation
ROLES = (CLASSIFY, GENERATE, ENCODE, DECODE, SAMPLE, SCORE, TRANSLATE, FEATURES)


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


def cosine_schedule(learning_rate: float, epochs: int) -> keras.callbacks.Callback:
    """Per-epoch cosine decay of the learning rate from ``learning_rate`` towards 0."""
    return keras.callbacks.LearningRateScheduler(
        lambda epoch: learning_rate * 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1))))


def _admits_none(hint: Any) -> bool:
    """Whether a (resolved) type hint names ``None``: ``X | None``, ``Optional[X]``."""
    if hint is None or hint is type(None):
        return True
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_admits_none(arg) for arg in typing.get_args(hint))
    return False


class ModelFamily:
    """Base class of a model family. See the module docstring for the contract.

    Subclasses set ``name``, ``hparams_cls`` (a dataclass with defaults) and
    ``task``, and implement ``build``.
    """

    name: str = ""
    hparams_cls: type = dict
    task: str = CLASSIFICATION
    # The signature exported as ``serving_default`` (behind tf.Example parsing).
    main_signature: str = "predict"
    # Signature name -> role (one of ``ROLES``): what each served signature means.
    signature_roles: Mapping[str, str] = types.MappingProxyType({})

    def signatures_with_role(self, role: str) -> list[str]:
        """Names of the signatures this family serves in ``role``."""
        return [name for name, r in self.signature_roles.items() if r == role]

    def hparams(self, overrides: Mapping[str, Any] | None = None) -> Any:
        """Returns the family's hyperparameters with ``overrides`` applied.

        Unknown names raise ``ValueError`` naming the known ones, so a typo in
        a pipeline config never trains silently with the default. JSON configs
        cannot write ``None``: the string ``"none"`` (any case) stands for it in
        every field whose type admits ``None``.
        """
        overrides = dict(overrides or {})
        if not dataclasses.is_dataclass(self.hparams_cls):
            return {**overrides}
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
        return self.hparams_cls(**overrides)

    def build(self, hparams: Any, data: DataSpec) -> keras.Model:
        """Returns a compiled model ready for ``train``."""
        raise NotImplementedError

    def train(self, model: keras.Model, hparams: Any, train_ds: Any, eval_ds: Any,
              callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict[str, list[float]]:
        """Trains ``model``; returns the per-epoch history (metric -> values).

        With ``hparams.lr_schedule == "cosine"`` the learning rate follows a
        cosine decay from ``hparams.learning_rate`` to zero over the epochs.
        """
        epochs = getattr(hparams, "epochs", 1)
        callbacks = list(callbacks)
        if getattr(hparams, "lr_schedule", None) == "cosine":
            callbacks.append(cosine_schedule(hparams.learning_rate, epochs))
        history = model.fit(
            train_ds,
            validation_data=eval_ds,
            epochs=epochs,
            steps_per_epoch=getattr(hparams, "steps_per_epoch", None),
            callbacks=callbacks,
            verbose=2,
        )
        return history.history

    def signatures(self, model: keras.Model, hparams: Any, data: DataSpec) -> dict[str, Signature]:
        """Returns the serving functions, keyed by signature name."""
        raise NotImplementedError


class ClassifierFamily(ModelFamily):
    """A family whose model maps the features to class probabilities.

    ``build`` must return a model taking the feature dict and returning
    probabilities of shape ``(batch, num_classes)``.
    """

    task = CLASSIFICATION
    main_signature = "predict"
    signature_roles = types.MappingProxyType({"predict": CLASSIFY})

    def signatures(self, model: keras.Model, hparams: Any, data: DataSpec) -> dict[str, Signature]:
        feature_keys = list(data.features)

        def predict(features: Mapping[str, Any]) -> dict[str, Any]:
            probabilities = model({k: features[k] for k in feature_keys}, training=False)
            return {
                "probabilities": probabilities,
                "classes": keras.ops.argmax(probabilities, axis=-1),
            }

        return {"predict": Signature(predict)}

"""BERT-style encoder, as the notes define it: pretraining (``bert_pretraining``) and fine-tuning
(``bert_classifier``), keras-hub style (tokenizer, preprocessor, backbone, task).

The encoder is keras-hub's ``BertBackbone``: WordPiece token + segment +
position embeddings, a stack of bidirectional Transformer encoder layers, and
the pooled ``[CLS]`` vector (``tanh`` dense). The tokenizer lives in the model:
:class:`models.layers.bert_preprocessor.BertPreprocessor` (keras-hub's
``BertTokenizer`` + ``MultiSegmentPacker``: ``[CLS] a [SEP] b [SEP]``,
truncated round-robin) runs inside ``fit`` and every exported signature, so
they all take raw strings. Shapes come from one hyperparameter, ``preset``
(:data:`PRESETS`: ``tiny`` trains on 2 CPU cores in minutes; ``base`` is the
notes' BERT-Base, 12 layers, 12 heads, 768 hidden, ~110 M parameters with a
30k vocabulary); any shape field overrides the preset's.

``bert_pretraining`` (task ``masked_language_model``): masked LM (15% of the
WordPiece tokens selected, never a reserved token; of those 80% ``[MASK]``,
10% a random token, 10% unchanged; cross-entropy on the selected positions
only; :class:`models.layers.bert_masking.BertMasker`, dynamic and seeded, in
the train step) plus next-sentence prediction on the pooled ``[CLS]`` vector,
the two losses summed (``nsp_weight``). Validation masks deterministically.
The vocabulary is the Transform's learned WordPiece asset
(``DataSpec.extras["vocab_files"]["wordpiece"]``, :mod:`models.features.wordpiece`).
Its model (:class:`BertPretrainer`) saves to and loads from a ``.keras`` file,
tokenizer vocabulary included. Signatures:

* ``fill_mask`` (role ``fill_mask``, main; input ``text``, a string per row):
  for the first ``fill_mask_slots`` ``[MASK]`` tokens of each text, ``tokens``
  (string ``[batch, slots, top_k]``: the most likely WordPiece tokens, reserved
  tokens excluded, best first) and ``scores`` (their probabilities), ``token_ids``,
  ``mask_positions`` (int ``[batch, slots]``, index in the packed sequence);
  ``mask_count`` (``[MASK]`` tokens found, after truncation; may exceed the
  slots) and ``truncated``. Unused slots (no, or fewer, ``[MASK]``) hold ``""``,
  score 0, id -1 and position -1: a text without ``[MASK]`` is an answer with
  ``mask_count`` 0, never an error.
* ``embed`` (role ``features``; input ``text``): ``pooled`` (``[batch, hidden]``, the
  ``[CLS]`` vector), ``sequence`` (``[batch, length, hidden]``), ``padding_mask``
  (which positions are tokens), ``token_ids`` and ``truncated``.
* ``masked_lm`` (role ``masked_lm``; transformed features ``text_a``, ``text_b``,
  so served on ``tf.Example``s): per pair ``masked_correct`` and
  ``masked_total`` (hits and count of a deterministic 15% selection, all turned
  into ``[MASK]``: held-out accuracy is ``sum(correct) / sum(total)``) and
  ``next_sentence_probability`` (IsNext).

``bert_classifier`` (task ``classification``, judged by TFMA): a softmax head
on the pooled vector of the encoder, over one text (``text_keys=("text",)``)
or a pair (``("text_a", "text_b")``). With ``pretrained=True`` (default) it
loads the pretraining stage's ``.keras`` file (``DataSpec.extras["base_model"]``,
or the ``base_model`` hparam) and fine-tunes its preprocessor and backbone;
with ``pretrained=False`` it builds the same architecture from scratch on the
vocabulary. Serves ``predict`` (probabilities, classes) on raw strings.
Few-label options, off by default: ``head_init="nsp"`` (a two-class pair
classifier's head starts as the pretrained next-sentence head) and
``probe_epochs`` (LP-FT: the head alone first, the encoder frozen).

Example:

>>> from models import registry
>>> family = registry.get("bert_pretraining")
>>> hp = family.hparams({"preset": "tiny", "sequence_length": 16, "vocab_file": doctest_vocab()})
>>> data = DataSpec({"text_a": FeatureInfo((), "string"), "text_b": FeatureInfo((), "string")}, "next_sentence", 2)
>>> model = family.build(hp, data)
>>> model.backbone.num_layers, model.backbone.hidden_dim
(2, 128)
>>> out = family.signatures(model, hp, data)["fill_mask"].fn({"text": keras.ops.convert_to_tensor(["a [MASK] b"])})
>>> tuple(out["tokens"].shape), keras.ops.convert_to_numpy(out["mask_count"]).tolist()
((1, 4, 5), [1])
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import types
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import keras_hub
from keras import ops

from models import registry
from models.base import (
    BASE_MODEL,
    FEATURES,
    FILL_MASK,
    MASKED_LANGUAGE_MODEL,
    MASKED_LM,
    ClassifierFamily,
    DataSpec,
    FeatureInfo,  # noqa: F401  (doctest)
    ModelFamily,
    Signature,
)
from models.common import check_choice, make_optimizer
from models.features import wordpiece
from models.hparams import HParams, check_positive_int
from models.layers.bert_masking import BertMasker
from models.layers.bert_preprocessor import BertPreprocessor, wordpiece_tokenizer

# Encoder shapes by preset name; ``sequence_length`` is the packed length ([CLS], [SEP] included).
PRESETS: Mapping[str, Mapping[str, int]] = types.MappingProxyType({
    "tiny": types.MappingProxyType({"num_layers": 2, "hidden_dim": 128, "num_heads": 2, "intermediate_dim": 512,
                                    "sequence_length": 128}),
    "base": types.MappingProxyType({"num_layers": 12, "hidden_dim": 768, "num_heads": 12,
                                    "intermediate_dim": 3072, "sequence_length": 512}),
})
SHAPE_FIELDS = ("num_layers", "hidden_dim", "num_heads", "intermediate_dim", "sequence_length")
IS_NEXT = 1  # the NSP head's class for "B follows A" (wordpiece.NEXT_SENTENCE == 1)
HEAD_INITS = ("random", "nsp")
POSITIVE = 1  # a two-class classifier's positive class: the NSP head's IsNext becomes it


@dataclasses.dataclass(kw_only=True)
class BertHParams(HParams):
    """Shared by both BERT families.

    Attributes:
        preset: ``"tiny"`` or ``"base"`` (:data:`PRESETS`).
        num_layers, hidden_dim, num_heads, intermediate_dim, sequence_length:
            ``None`` for the preset's value, else an override.
        dropout: the encoder's dropout (and the classifier head's).
        lowercase: the tokenizer lowercases (as the vocabulary learner must).
        vocab_name: the Transform's WordPiece asset (``DataSpec.extras["vocab_files"]``).
        vocab_file: a vocabulary file to use instead (training without the Transform).
    """

    preset: str = "tiny"
    num_layers: int | None = None
    hidden_dim: int | None = None
    num_heads: int | None = None
    intermediate_dim: int | None = None
    sequence_length: int | None = None
    dropout: float = 0.1
    lowercase: bool = True
    vocab_name: str = wordpiece.VOCAB
    vocab_file: str | None = None
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 3e-4
    clipnorm: float | None = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("preset", self.preset, tuple(PRESETS))
        for name in SHAPE_FIELDS:
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        shape = self.shape()
        if shape["hidden_dim"] % shape["num_heads"]:
            raise ValueError(f"hidden_dim {shape['hidden_dim']} must be a multiple of num_heads {shape['num_heads']}")
        if shape["sequence_length"] < 3:
            raise ValueError(f"sequence_length must be >= 3 ([CLS] a [SEP]), got {shape['sequence_length']}")
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    def shape(self) -> dict[str, int]:
        """The encoder's shape: the preset's, with this object's overrides."""
        return {name: getattr(self, name) or PRESETS[self.preset][name] for name in SHAPE_FIELDS}


@dataclasses.dataclass(kw_only=True)
class BertPretrainingHParams(BertHParams):
    """Attributes (beyond :class:`BertHParams`):
        selection_rate, mask_token_rate, random_token_rate: the masked LM's 15% / 80% / 10%.
        nsp_weight: weight of the next-sentence loss beside the masked-LM loss.
        top_k: tokens ``fill_mask`` returns per ``[MASK]``.
        fill_mask_slots: ``[MASK]`` tokens ``fill_mask`` answers per text.
    """

    selection_rate: float = 0.15
    mask_token_rate: float = 0.8
    random_token_rate: float = 0.1
    nsp_weight: float = 1.0
    top_k: int = 5
    fill_mask_slots: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("selection_rate", "mask_token_rate", "random_token_rate"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if self.selection_rate == 0:
            raise ValueError("selection_rate must be > 0: the masked LM needs tokens to predict")
        if self.mask_token_rate + self.random_token_rate > 1.0:
            raise ValueError("mask_token_rate + random_token_rate must be <= 1")
        if not (isinstance(self.nsp_weight, (int, float)) and self.nsp_weight >= 0):
            raise ValueError(f"nsp_weight must be >= 0, got {self.nsp_weight!r}")
        check_positive_int("top_k", self.top_k)
        check_positive_int("fill_mask_slots", self.fill_mask_slots)


@dataclasses.dataclass(kw_only=True)
class BertClassifierHParams(BertHParams):
    """Attributes (beyond :class:`BertHParams`):
        text_keys: the raw text features: one (a single text) or two (a sentence pair);
            a comma-separated string is accepted (``--hparam text_keys=text_a,text_b``).
        pretrained: start from the pretrained encoder (``DataSpec.extras["base_model"]``
            or ``base_model``); ``False`` builds the same architecture from scratch.
        base_model: a pretrained model's ``.keras`` file, instead of the trainer's.
        head_init: ``"random"`` (default) or ``"nsp"``: a two-class sentence-pair classifier's head
            starts as the pretrained next-sentence head (IsNext -> class 1), so before any step it
            scores "B belongs with A" as pretraining learned it (needs ``pretrained`` and two text keys).
        probe_epochs: LP-FT (linear probe, then fine-tune; Kumar et al. 2022): the first
            ``probe_epochs`` of the ``epochs`` train the head alone, the encoder frozen, at
            ``probe_learning_rate`` (``None``: ``learning_rate``); then all of it, with a fresh optimizer.
            0 (default): fine-tune everything from the first step.

    With a pretrained encoder the shape fields are the encoder's; only
    ``sequence_length`` may differ (up to the encoder's maximum); ``dropout``
    replaces the encoder's pretraining rate (:func:`with_dropout`).

    Fine-tuning defaults (BERT's recipe scaled to the ``tiny`` shape): Adam at
    ``learning_rate=2e-4`` (tiny BERTs fine-tune at 1e-4..5e-4), constant, with
    gradient clipping at norm 1; batches of 32; dropout 0.1. No warmup: on
    ``zoo_reviews`` (all 5,000 labels) the rate is not what holds fine-tuning
    back: at 2e-4, 5e-4 and 1e-3 alike train and test accuracy stayed at
    chance (0.50-0.55) for the first 1,500-2,000 steps, while the same setup
    learns a word-level label in 100 (benchmarks/bert_label_budget.py says
    why); set ``lr_schedule="cosine"`` for a decay over the epochs.
    """

    text_keys: tuple[str, ...] = (wordpiece.TEXT,)
    pretrained: bool = True
    base_model: str | None = None
    learning_rate: float = 2e-4
    head_init: str = "random"
    probe_epochs: int = 0
    probe_learning_rate: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        keys = self.text_keys
        if isinstance(keys, str):
            keys = [k.strip() for k in keys.split(",")]
        keys = tuple(keys)
        if not 1 <= len(keys) <= 2 or not all(isinstance(k, str) and k for k in keys):
            raise ValueError(f"text_keys must name one or two text features, got {self.text_keys!r}")
        self.text_keys = keys
        if not isinstance(self.pretrained, bool):
            raise ValueError(f"pretrained must be true or false, got {self.pretrained!r}")
        check_choice("head_init", self.head_init, HEAD_INITS)
        if self.head_init == "nsp" and not (self.pretrained and len(keys) == 2):
            raise ValueError("head_init='nsp' starts a sentence-pair classifier from the pretrained next-sentence "
                             "head: it needs pretrained=true and two text_keys")
        if not (isinstance(self.probe_epochs, int) and 0 <= self.probe_epochs < self.epochs):
            raise ValueError(f"probe_epochs must be in [0, epochs={self.epochs}), got {self.probe_epochs!r}")
        if self.probe_learning_rate is not None and not self.probe_learning_rate > 0:
            raise ValueError(f"probe_learning_rate must be > 0, got {self.probe_learning_rate!r}")


def vocabulary_file(hparams: BertHParams, data: DataSpec) -> str:
    """The WordPiece vocabulary: ``hparams.vocab_file``, else the Transform's asset ``hparams.vocab_name``."""
    if hparams.vocab_file:
        return hparams.vocab_file
    files = data.extras.get("vocab_files", {})
    if hparams.vocab_name not in files:
        raise ValueError(f"no WordPiece vocabulary '{hparams.vocab_name}' in the data (vocabularies: "
                         f"{sorted(files)}); the Transform must write it, or set the vocab_file hparam")
    return files[hparams.vocab_name]


def build_encoder(hparams: BertHParams, vocabulary: str) -> tuple[BertPreprocessor, Any]:
    """A fresh ``(preprocessor, backbone)`` of ``hparams``' shape on a vocabulary file."""
    shape = hparams.shape()
    tokenizer = wordpiece_tokenizer(vocabulary, lowercase=hparams.lowercase)
    preprocessor = BertPreprocessor(tokenizer, shape["sequence_length"], name="preprocessor")
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=shape["num_layers"], num_heads=shape["num_heads"],
        hidden_dim=shape["hidden_dim"], intermediate_dim=shape["intermediate_dim"], dropout=hparams.dropout,
        max_sequence_length=shape["sequence_length"], name="backbone")
    return preprocessor, backbone


def _encoder_inputs(packed: Mapping[str, Any]) -> dict[str, Any]:
    return {k: packed[k] for k in ("token_ids", "segment_ids", "padding_mask")}


def _flat(x: Any) -> Any:
    return ops.reshape(x, (-1,))


@keras.saving.register_keras_serializable(package="zoo")
class BertPretrainer(keras.Model):
    """Preprocessor + backbone + masked-LM head (tied to the token embedding) + NSP head.

    ``fit`` takes batches of ``({text_a: strings, text_b: strings}, next_sentence)``:
    the train step tokenizes, packs and masks (randomly, seeded) in the graph;
    the test step masks deterministically. ``call`` takes the packed, masked
    inputs (``token_ids``, ``segment_ids``, ``padding_mask``, ``mask_positions``)
    and returns the logits ``{"mlm": [batch, slots, vocab], "nsp": [batch, 2]}``.
    History: ``loss``, ``mlm_loss``, ``nsp_loss``, ``mlm_accuracy`` (selected
    tokens predicted), ``nsp_accuracy``.
    """

    def __init__(self, backbone: Any, preprocessor: Any, selection_rate: float = 0.15,
                 mask_token_rate: float = 0.8, random_token_rate: float = 0.1, nsp_weight: float = 1.0,
                 seed: int | None = None,
                 text_keys: Sequence[str] = (wordpiece.TEXT_A, wordpiece.TEXT_B), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        if isinstance(preprocessor, dict):
            preprocessor = keras.saving.deserialize_keras_object(preprocessor)
        self.backbone, self.preprocessor = backbone, preprocessor
        self.selection_rate, self.mask_token_rate = float(selection_rate), float(mask_token_rate)
        self.random_token_rate, self.nsp_weight, self.seed = float(random_token_rate), float(nsp_weight), seed
        self.text_keys = tuple(text_keys)
        length = preprocessor.sequence_length
        self.masker = BertMasker(
            backbone.vocabulary_size, selection_rate, mask_token_rate, random_token_rate,
            max_selections=BertMasker.max_selections_for(length, selection_rate), seed=seed, name="masker")
        self.mlm_head = keras_hub.layers.MaskedLMHead(
            vocabulary_size=backbone.vocabulary_size, token_embedding=backbone.token_embedding,
            intermediate_activation="gelu", kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="mlm_head")
        self.mlm_head.build((None, length, backbone.hidden_dim), (None, self.masker.max_selections))
        self.nsp_head = keras.layers.Dense(2, kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
                                           name="nsp_head")
        self.nsp_head.build((None, backbone.hidden_dim))
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy")}
        self.built = True

    def call(self, inputs: Mapping[str, Any], training: bool = False) -> dict[str, Any]:
        encoded = self.backbone(_encoder_inputs(inputs), training=training)
        return {"mlm": self.mlm_head(encoded["sequence_output"], mask_positions=inputs["mask_positions"]),
                "nsp": self.nsp_head(encoded["pooled_output"])}

    def pack(self, features: Mapping[str, Any]) -> dict[str, Any]:
        """Tokenized, packed sentence pairs of a features dict."""
        missing = [k for k in self.text_keys if k not in features]
        if missing:
            raise ValueError(f"the pretraining model reads text features {list(self.text_keys)}; "
                             f"missing {missing} (got {sorted(features)})")
        return self.preprocessor([features[k] for k in self.text_keys])

    def masked_batch(self, features: Mapping[str, Any], deterministic: bool) -> tuple[dict, dict]:
        """``(model inputs, targets)`` of a batch of raw features: packed, then masked."""
        packed = self.pack(features)
        masked = self.masker(packed["token_ids"], deterministic=deterministic)
        inputs = {"token_ids": masked["token_ids"], "segment_ids": packed["segment_ids"],
                  "padding_mask": packed["padding_mask"], "mask_positions": masked["mask_positions"]}
        return inputs, {"mask_ids": masked["mask_ids"], "mask_weights": masked["mask_weights"]}

    def _prepare(self, data: Any, deterministic: bool) -> tuple[dict, dict]:
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            raise ValueError("pretraining needs the next-sentence label with every pair")
        inputs, targets = self.masked_batch(x, deterministic)
        targets["next_sentence"] = ops.cast(_flat(y), "int32")
        return inputs, targets

    def train_step(self, data: Any) -> Any:
        return super().train_step(self._prepare(data, deterministic=False))

    def test_step(self, data: Any) -> Any:
        return super().test_step(self._prepare(data, deterministic=True))

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        weights = y["mask_weights"]
        mlm_ce = keras.losses.sparse_categorical_crossentropy(y["mask_ids"], y_pred["mlm"], from_logits=True)
        total = ops.maximum(ops.sum(weights), 1.0)
        mlm_loss = ops.sum(mlm_ce * weights) / total
        nsp_loss = ops.mean(keras.losses.sparse_categorical_crossentropy(
            y["next_sentence"], y_pred["nsp"], from_logits=True))
        hits = ops.cast(ops.equal(ops.argmax(y_pred["mlm"], axis=-1), ops.cast(y["mask_ids"], "int64")), "float32")
        nsp_hits = ops.cast(ops.equal(ops.argmax(y_pred["nsp"], axis=-1), ops.cast(y["next_sentence"], "int64")),
                            "float32")
        self.trackers["mlm_loss"].update_state(mlm_loss)
        self.trackers["nsp_loss"].update_state(nsp_loss)
        self.trackers["mlm_accuracy"].update_state(hits, sample_weight=weights)
        self.trackers["nsp_accuracy"].update_state(nsp_hits)
        loss = mlm_loss + self.nsp_weight * nsp_loss
        if self.losses:
            loss = loss + ops.sum(self.losses)
        return loss

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone": keras.saving.serialize_keras_object(self.backbone),
                "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
                "selection_rate": self.selection_rate, "mask_token_rate": self.mask_token_rate,
                "random_token_rate": self.random_token_rate, "nsp_weight": self.nsp_weight, "seed": self.seed,
                "text_keys": list(self.text_keys)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BertPretrainer:
        return cls(**config)


def vocabulary_strings(preprocessor: BertPreprocessor) -> Any:
    """The tokenizer's vocabulary as a string tensor, indexed by token id."""
    return ops.convert_to_tensor(list(preprocessor.tokenizer.get_vocabulary()))


def fill_mask(model: BertPretrainer, texts: Any, top_k: int, slots: int) -> dict[str, Any]:
    """The ``fill_mask`` signature's outputs (see the module docstring) for a batch of strings."""
    packed = model.preprocessor(texts)
    ids = packed["token_ids"]
    length = model.preprocessor.sequence_length
    slots = min(slots, length)
    is_mask = ops.equal(ids, wordpiece.MASK_ID)
    # the first `slots` [MASK] positions, in order: larger key = earlier position
    key = ops.where(is_mask, float(length) - ops.arange(length, dtype="float32")[None, :], 0.0)
    order, positions = ops.top_k(key, k=slots)
    valid = order > 0
    positions = ops.cast(positions, "int32")
    encoded = model.backbone(_encoder_inputs(packed), training=False)
    logits = model.mlm_head(encoded["sequence_output"], mask_positions=positions)
    reserved = ops.arange(model.backbone.vocabulary_size) < len(wordpiece.RESERVED_TOKENS)
    probabilities = ops.softmax(ops.cast(logits, "float32"), axis=-1)
    scores, token_ids = ops.top_k(ops.where(reserved, -1.0, probabilities),
                                  k=min(top_k, model.backbone.vocabulary_size - len(wordpiece.RESERVED_TOKENS)))
    token_ids = ops.cast(token_ids, "int32")
    tokens = ops.take(vocabulary_strings(model.preprocessor), token_ids)
    valid3 = ops.broadcast_to(valid[:, :, None], ops.shape(token_ids))
    return {
        "tokens": ops.where(valid3, tokens, ""),
        "scores": ops.where(valid3, scores, 0.0),
        "token_ids": ops.where(valid3, token_ids, -1),
        "mask_positions": ops.where(valid, positions, -1),
        "mask_count": ops.sum(ops.cast(is_mask, "int32"), axis=1),
        "truncated": packed["truncated"],
    }


def embed(preprocessor: BertPreprocessor, backbone: Any, texts: Any) -> dict[str, Any]:
    """The ``embed`` signature's outputs (see the module docstring) for a batch of strings."""
    packed = preprocessor(texts)
    encoded = backbone(_encoder_inputs(packed), training=False)
    return {"pooled": encoded["pooled_output"], "sequence": encoded["sequence_output"],
            "padding_mask": packed["padding_mask"], "token_ids": packed["token_ids"],
            "truncated": packed["truncated"]}


def masked_lm(model: BertPretrainer, features: Mapping[str, Any]) -> dict[str, Any]:
    """Held-out scoring of sentence pairs: deterministic masked-token hits and counts, IsNext probability."""
    inputs, targets = model.masked_batch(features, deterministic=True)
    outputs = model(inputs, training=False)
    weights = targets["mask_weights"]
    hits = ops.cast(ops.equal(ops.argmax(outputs["mlm"], axis=-1), ops.cast(targets["mask_ids"], "int64")),
                    "float32")
    return {"masked_correct": ops.cast(ops.sum(hits * weights, axis=1), "int32"),
            "masked_total": ops.cast(ops.sum(weights, axis=1), "int32"),
            "next_sentence_probability": ops.softmax(ops.cast(outputs["nsp"], "float32"), axis=-1)[:, IS_NEXT]}


def _check_text_features(name: str, data: DataSpec, keys: Sequence[str]) -> None:
    missing = [k for k in keys if k not in data.features]
    if missing:
        raise ValueError(f"'{name}' reads the raw text features {list(keys)}; the data has no {missing} "
                         f"(features: {sorted(data.features)})")
    wrong = [k for k in keys if data.features[k].dtype != "string"]
    if wrong:
        raise ValueError(f"'{name}' reads raw strings (the tokenizer is in the model); features {wrong} are "
                         f"{[data.features[k].dtype for k in wrong]}")


TEXT_INPUT = {wordpiece.TEXT: ([None], "string")}


@registry.register
class BertPretraining(ModelFamily):
    name = "bert_pretraining"
    hparams_cls = BertPretrainingHParams
    task = MASKED_LANGUAGE_MODEL
    main_signature = "fill_mask"
    signature_roles = types.MappingProxyType({"fill_mask": FILL_MASK, "embed": FEATURES, "masked_lm": MASKED_LM})

    def build(self, hparams: BertPretrainingHParams, data: DataSpec) -> BertPretrainer:
        keys = (wordpiece.TEXT_A, wordpiece.TEXT_B)
        _check_text_features(self.name, data, keys)
        if data.label_key is None:
            raise ValueError(f"'{self.name}' needs the next-sentence label ('{wordpiece.NEXT_SENTENCE}') in the data")
        preprocessor, backbone = build_encoder(hparams, vocabulary_file(hparams, data))
        model = BertPretrainer(backbone, preprocessor, hparams.selection_rate, hparams.mask_token_rate,
                               hparams.random_token_rate, hparams.nsp_weight, seed=hparams.seed, text_keys=keys,
                               name=self.name)
        model.compile(optimizer=make_optimizer(hparams), jit_compile=False)
        return model

    def signatures(self, model: BertPretrainer, hparams: BertPretrainingHParams,
                   data: DataSpec) -> dict[str, Signature]:
        return {
            "fill_mask": Signature(lambda x: fill_mask(model, x[wordpiece.TEXT], hparams.top_k,
                                                       hparams.fill_mask_slots), TEXT_INPUT),
            "embed": Signature(lambda x: embed(model.preprocessor, model.backbone, x[wordpiece.TEXT]), TEXT_INPUT),
            "masked_lm": Signature(lambda features: masked_lm(model, features)),
        }


def load_pretrained_model(path: str) -> Any:
    """The model of a pretraining ``.keras`` file (checked to hold a preprocessor and a backbone)."""
    if not os.path.exists(path):
        raise ValueError(f"no pretrained encoder at {path!r}")
    model = keras.saving.load_model(path, compile=False)
    if not (hasattr(model, "preprocessor") and hasattr(model, "backbone")):
        raise ValueError(f"{path!r} holds a {type(model).__name__}, not a BERT model with a preprocessor and backbone")
    return model


def load_pretrained(path: str) -> tuple[BertPreprocessor, Any]:
    """``(preprocessor, backbone)`` of a pretraining model's ``.keras`` file."""
    model = load_pretrained_model(path)
    return model.preprocessor, model.backbone


def nsp_head_weights(path: str) -> list[Any]:
    """``[kernel [hidden, 2], bias [2]]`` of a pretraining file's next-sentence head, its columns ordered
    so that IsNext is column :data:`POSITIVE` (a two-class classifier's head takes them as they are)."""
    model = load_pretrained_model(path)
    if not hasattr(model, "nsp_head"):
        raise ValueError(f"{path!r} holds a {type(model).__name__} without a next-sentence head")
    kernel, bias = model.nsp_head.get_weights()
    order = [1 - IS_NEXT, IS_NEXT]  # column POSITIVE (1) = IsNext
    return [kernel[:, order], bias[order]]


def with_dropout(backbone: Any, rate: float) -> Any:
    """``backbone`` at dropout ``rate``: itself when it has that rate, else the same encoder rebuilt
    from its config at ``rate``, its weights copied (a loaded encoder keeps its pretraining rate, and a
    built Keras ``Dropout`` layer cannot take on a rate above 0 it was not created with).

    >>> backbone = keras_hub.models.BertBackbone(vocabulary_size=20, num_layers=1, num_heads=1, hidden_dim=4,
    ...                                          intermediate_dim=8, max_sequence_length=6, dropout=0.0)
    >>> rebuilt = with_dropout(backbone, 0.1)
    >>> rebuilt.get_config()["dropout"], all((a == b).all() for a, b in zip(rebuilt.get_weights(),
    ...                                                                  backbone.get_weights()))
    (0.1, True)
    >>> with_dropout(rebuilt, 0.1) is rebuilt
    True
    """
    config = backbone.get_config()
    if config.get("dropout") == rate:
        return backbone
    rebuilt = type(backbone).from_config({**config, "dropout": float(rate)})
    rebuilt.set_weights(backbone.get_weights())
    return rebuilt


@registry.register
class BertClassifier(ClassifierFamily):
    name = "bert_classifier"
    hparams_cls = BertClassifierHParams

    def input_features(self, hparams: BertClassifierHParams) -> tuple[str, ...]:
        return tuple(hparams.text_keys)

    def base_model(self, hparams: BertClassifierHParams, data: DataSpec) -> str:
        """The pretrained ``.keras`` file: the ``base_model`` hparam, else the pretraining stage's."""
        path = hparams.base_model or data.extras.get(BASE_MODEL)
        if not path:
            raise ValueError(f"'{self.name}' with pretrained=True needs the pretrained encoder's .keras file "
                             f"(DataSpec.extras['{BASE_MODEL}'], set by a pretraining stage, or the "
                             "base_model hparam); set pretrained=false to train from scratch")
        return path

    def encoder(self, hparams: BertClassifierHParams, data: DataSpec) -> tuple[BertPreprocessor, Any]:
        """The pretrained ``(preprocessor, backbone)``, or fresh ones when ``pretrained=False``."""
        if not hparams.pretrained:
            return build_encoder(hparams, vocabulary_file(hparams, data))
        preprocessor, backbone = load_pretrained(self.base_model(hparams, data))
        backbone = with_dropout(backbone, hparams.dropout)  # else it keeps the pretraining stage's rate
        length = hparams.sequence_length
        if length and length != preprocessor.sequence_length:
            if length > backbone.max_sequence_length:
                raise ValueError(f"sequence_length {length} exceeds the pretrained encoder's "
                                 f"{backbone.max_sequence_length}")
            preprocessor = BertPreprocessor(preprocessor.tokenizer, length, name="preprocessor")
        return preprocessor, backbone

    def body(self, hparams: BertClassifierHParams, data: DataSpec, inputs: Mapping[str, Any]) -> Any:
        _check_text_features(self.name, data, hparams.text_keys)
        preprocessor, backbone = self.encoder(hparams, data)
        packed = preprocessor([inputs[k] for k in hparams.text_keys])
        pooled = backbone(_encoder_inputs(packed))["pooled_output"]
        # compiled by ClassifierFamily.build: jit_compile="auto" resolves to no XLA, the preprocessor says so
        return keras.layers.Dropout(hparams.dropout, name="head_dropout")(pooled)

    def build_model(self, hparams: BertClassifierHParams, data: DataSpec) -> keras.Model:
        """:meth:`ClassifierFamily.build_model`; with ``head_init="nsp"`` the head takes the NSP head's weights."""
        model = super().build_model(hparams, data)
        if hparams.head_init == "nsp":
            if data.num_classes != 2:
                raise ValueError(f"head_init='nsp' needs a two-class label (IsNext -> class {POSITIVE}); the data "
                                 f"has {data.num_classes} classes")
            model.get_layer("probabilities").set_weights(nsp_head_weights(self.base_model(hparams, data)))
        return model

    def train(self, model: keras.Model, hparams: BertClassifierHParams, train_ds: Any, eval_ds: Any,
              callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict[str, list[float]]:
        """:meth:`fit`; with ``probe_epochs``, first that many epochs of the head alone (LP-FT)."""
        if not hparams.probe_epochs:
            return self.fit(model, hparams, train_ds, eval_ds, callbacks)
        backbone = model.get_layer("backbone")
        backbone.trainable = False
        self.compile(model, hparams, hparams.probe_learning_rate or hparams.learning_rate)
        probe = self.fit(model, dataclasses.replace(hparams, epochs=hparams.probe_epochs, probe_epochs=0,
                                                    lr_schedule=None), train_ds, eval_ds, callbacks)
        backbone.trainable = True
        self.compile(model, hparams, hparams.learning_rate)
        rest = self.fit(model, dataclasses.replace(hparams, epochs=hparams.epochs - hparams.probe_epochs,
                                                   probe_epochs=0), train_ds, eval_ds, callbacks)
        return {k: probe.get(k, []) + rest.get(k, []) for k in {**probe, **rest}}


def parameter_count(hparams: BertHParams, vocabulary_size: int = 30522) -> int:
    """Parameters of an encoder of ``hparams``' shape (backbone only), by formula.

    >>> round(parameter_count(BertHParams(preset="base")) / 1e6, 1)
    109.5
    """
    s = hparams.shape()
    h, f, n = s["hidden_dim"], s["intermediate_dim"], s["num_layers"]
    embeddings = (vocabulary_size + s["sequence_length"] + 2) * h + 2 * h
    layer = 4 * (h * h + h) + 2 * h + (h * f + f) + (f * h + h) + 2 * h
    return embeddings + n * layer + h * h + h


def doctest_vocab() -> str:
    """A small WordPiece vocabulary file (reserved tokens, letters, a few words) for the examples."""
    path = os.path.join(tempfile.gettempdir(), f"zoo_bert_doctest_vocab_{os.getpid()}.txt")
    words = ["the", "a", "b", "cat", "sat", "on", "mat", "##s", "."] + [chr(c) for c in range(ord("c"), ord("z") + 1)]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join([*wordpiece.RESERVED_TOKENS, *dict.fromkeys(words)]) + "\n")
    return path


"""Stacked recurrent text classifier, as the notes define deep and bidirectional RNNs.

Token ids (0 = padding) -> ``Embedding(mask_zero=True)`` -> ``depth`` GRU,
LSTM or SimpleRNN layers, each bidirectional (``merge_mode``) or not ->
dropout -> softmax. The padding mask reaches every recurrent layer, so padded
positions change nothing. A deep unidirectional RNN is ``bidirectional=False``.
``recurrent_dropout`` is off by default: like a non-``tanh`` ``activation``,
``unroll=True`` or ``use_bias=False`` it keeps GRU/LSTM off the fused cuDNN
kernel (see :func:`models.layers.recurrent.fused_kernel_blockers`).
``precision="mixed_float16"`` (or ``"mixed_bfloat16"``) trains in mixed precision.

Example:

>>> from models import registry
>>> family = registry.get("rnn")
>>> hp = family.hparams({"cell": "gru", "units": 8, "depth": 2, "embedding_dim": 4})
>>> data = DataSpec({"text_ids": FeatureInfo((12,), "int64")}, "label", 2,
...                 extras={"vocab_sizes": {"text": 50}})
>>> family.build(hp, data).output_shape
(None, 2)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import keras

from models import registry
from models.base import ClassifierFamily, DataSpec, FeatureInfo  # noqa: F401  (doctest)
from models.common import PRECISIONS, dtype_policy
from models.features import text
from models.hparams import HParams
from models.layers.recurrent import StackedRNN


@dataclasses.dataclass(kw_only=True)
class RnnHParams(HParams):
    cell: str = "lstm"                # "gru", "lstm" or "simple_rnn"
    units: int = 64
    depth: int = 1                    # stacked recurrent layers
    bidirectional: bool = True
    merge_mode: str = "concat"        # "concat", "sum", "mul" or "ave"
    embedding_dim: int = 64
    dropout: float = 0.2              # on every recurrent layer's inputs and before the head
    recurrent_dropout: float = 0.0    # > 0 disables the fused cuDNN kernel
    activation: str = "tanh"          # anything else disables the fused cuDNN kernel
    use_bias: bool = True
    unroll: bool = False
    dense_units: int = 0              # optional hidden layer in the head
    learning_rate: float = 3e-3
    clipnorm: float | None = 1.0      # gradient clipping (exploding gradients)
    text_feature: str = text.TEXT_IDS  # transformed token-id feature
    vocab_name: str = text.VOCAB      # Transform vocabulary (DataSpec.extras['vocab_sizes'])
    vocab_size: int | None = None     # overrides the vocabulary size (training without Transform)


@registry.register
class Rnn(ClassifierFamily):
    name = "rnn"
    hparams_cls = RnnHParams
    precisions = PRECISIONS

    def input_features(self, hparams: RnnHParams) -> tuple[str, ...]:
        return (hparams.text_feature,)

    def body(self, hparams: RnnHParams, data: DataSpec, inputs: Mapping[str, Any]) -> Any:
        text.sequence_length(data, hparams.text_feature)
        policy = dtype_policy(hparams.precision)
        x = keras.layers.Embedding(text.vocab_size(data, hparams.vocab_name, hparams.vocab_size),
                                   hparams.embedding_dim, mask_zero=True, dtype=policy,
                                   name="embedding")(inputs[hparams.text_feature])
        x = StackedRNN(hparams.cell, hparams.units, hparams.depth, hparams.bidirectional,
                       hparams.merge_mode, hparams.dropout, hparams.recurrent_dropout,
                       hparams.activation, hparams.use_bias, hparams.unroll, dtype=policy,
                       name="recurrent")(x)
        x = keras.layers.Dropout(hparams.dropout, dtype=policy)(x)
        if hparams.dense_units:
            x = keras.layers.Dense(hparams.dense_units, activation="relu", dtype=policy)(x)
        return x

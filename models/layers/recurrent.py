"""Recurrent building blocks: one factory for GRU/LSTM/SimpleRNN layers and a
stacked (optionally bidirectional) recurrent encoder that honours padding masks.

Keras runs GRU and LSTM on the fused cuDNN kernel (TensorFlow backend, GPU)
only with the default ``tanh``/``sigmoid`` activations, ``recurrent_dropout=0``,
``unroll=False`` and ``use_bias=True``; :func:`fused_kernel_blockers` names the
settings that rule it out.
"""

from __future__ import annotations

from typing import Any

import keras

from models.common import check_choice

CELLS = ("gru", "lstm", "simple_rnn")
MERGE_MODES = ("concat", "sum", "mul", "ave")

_LAYERS = {"gru": keras.layers.GRU, "lstm": keras.layers.LSTM, "simple_rnn": keras.layers.SimpleRNN}
_CELL_LAYERS = {"gru": keras.layers.GRUCell, "lstm": keras.layers.LSTMCell,
                "simple_rnn": keras.layers.SimpleRNNCell}


def fused_kernel_blockers(cell: str, activation: str = "tanh", recurrent_dropout: float = 0.0,
                          unroll: bool = False, use_bias: bool = True) -> list[str]:
    """The settings that keep a GRU/LSTM off the fused cuDNN kernel (empty: eligible).

    >>> fused_kernel_blockers("lstm")
    []
    >>> fused_kernel_blockers("gru", activation="relu", recurrent_dropout=0.2)
    ['activation=relu', 'recurrent_dropout=0.2']
    """
    check_choice("cell", cell, CELLS)
    if cell == "simple_rnn":
        return ["cell=simple_rnn"]
    blockers = []
    if activation != "tanh":
        blockers.append(f"activation={activation}")
    if recurrent_dropout:
        blockers.append(f"recurrent_dropout={recurrent_dropout}")
    if unroll:
        blockers.append("unroll=True")
    if not use_bias:
        blockers.append("use_bias=False")
    return blockers


def recurrent_layer(cell: str, units: int, **kwargs: Any) -> keras.layers.RNN:
    """A ``keras.layers.GRU``, ``LSTM`` or ``SimpleRNN`` named by ``cell``;
    ``kwargs`` go to the layer (Keras' defaults otherwise).

    >>> recurrent_layer("gru", 8, return_sequences=True).__class__.__name__
    'GRU'
    """
    check_choice("cell", cell, CELLS)
    return _LAYERS[cell](units, **kwargs)


def recurrent_cell(cell: str, units: int, **kwargs: Any) -> keras.layers.Layer:
    """A single-step ``GRUCell``, ``LSTMCell`` or ``SimpleRNNCell`` named by ``cell``."""
    check_choice("cell", cell, CELLS)
    return _CELL_LAYERS[cell](units, **kwargs)


def num_states(cell: str) -> int:
    """How many state tensors one step of ``cell`` carries (LSTM: h and c)."""
    check_choice("cell", cell, CELLS)
    return 2 if cell == "lstm" else 1


@keras.saving.register_keras_serializable(package="zoo")
class StackedRNN(keras.layers.Layer):
    """``depth`` recurrent layers on top of each other, each optionally bidirectional.

    Every layer but the last returns its full sequence to the next one; the
    last returns the final output (``return_sequences=False``) or the sequence.
    The padding mask (from ``Embedding(mask_zero=True)``) reaches every layer,
    so padded steps leave the state unchanged: padding changes nothing.
    ``dropout`` drops inputs of every layer; ``recurrent_dropout`` (off by
    default) drops the recurrent connections but rules out the fused kernel
    (and puts the RNN's seed variable in inference graphs: an exporter must
    then track ``model.variables``).

    Example:

    >>> layer = StackedRNN("gru", units=4, depth=2, bidirectional=True)
    >>> tuple(layer(keras.ops.ones((2, 5, 3))).shape)
    (2, 8)
    """

    def __init__(self, cell: str = "lstm", units: int = 64, depth: int = 1,
                 bidirectional: bool = True, merge_mode: str = "concat", dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, activation: str = "tanh", use_bias: bool = True,
                 unroll: bool = False, return_sequences: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_choice("cell", cell, CELLS)
        check_choice("merge_mode", merge_mode, MERGE_MODES)
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        if units < 1:
            raise ValueError(f"units must be at least 1, got {units}")
        self.cell, self.units, self.depth = cell, units, depth
        self.bidirectional, self.merge_mode = bidirectional, merge_mode
        self.dropout, self.recurrent_dropout = dropout, recurrent_dropout
        self.activation, self.use_bias, self.unroll = activation, use_bias, unroll
        self.return_sequences = return_sequences
        self.supports_masking = True
        self.rnns = [self._make_layer(sequences=(i < depth - 1) or return_sequences, index=i)
                     for i in range(depth)]
        # Input dropout as separate layers, not the RNN's own ``dropout``: Keras RNNs draw
        # their dropout masks even at inference, which puts a seed variable in the serving graph.
        self.drops = [keras.layers.Dropout(dropout, dtype=self.dtype_policy) for _ in range(depth)]

    def _make_layer(self, sequences: bool, index: int) -> keras.layers.Layer:
        layer = recurrent_layer(self.cell, self.units, return_sequences=sequences,
                                recurrent_dropout=self.recurrent_dropout,
                                activation=self.activation, use_bias=self.use_bias,
                                unroll=self.unroll, dtype=self.dtype_policy, name=f"{self.cell}_{index}")
        if self.bidirectional:
            layer = keras.layers.Bidirectional(layer, merge_mode=self.merge_mode,
                                               dtype=self.dtype_policy, name=f"bi_{self.cell}_{index}")
        return layer

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        shape = tuple(input_shape)
        for rnn in self.rnns:
            rnn.build(shape)
            shape = rnn.compute_output_shape(shape)

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        x = inputs
        for drop, rnn in zip(self.drops, self.rnns):
            x = rnn(drop(x, training=training), mask=mask, training=training)
        return x

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        width = self.units * (2 if self.bidirectional and self.merge_mode == "concat" else 1)
        if self.return_sequences:
            return (input_shape[0], input_shape[1], width)
        return (input_shape[0], width)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask if self.return_sequences else None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cell": self.cell, "units": self.units, "depth": self.depth,
                "bidirectional": self.bidirectional, "merge_mode": self.merge_mode,
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                "activation": self.activation, "use_bias": self.use_bias, "unroll": self.unroll,
                "return_sequences": self.return_sequences}

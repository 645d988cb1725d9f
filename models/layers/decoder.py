"""Recurrent decoder with optional attention, one step function for training and inference.

With ``attention="bahdanau"`` the previous state ``s_{i-1}`` queries the
encoder outputs and the context enters the cell with the previous token,
``s_i = RNN([y_{i-1}; c_i], s_{i-1})`` (as in the notes); the output layer
sees ``[s_i; c_i]``. With ``attention="luong"`` the new state queries them and
``h~_i = tanh(W_c [c_i; s_i])`` is both the output and fed to the next step
(input feeding). With ``attention=None`` the decoder only has its initial
state: the plain encoder-decoder.

Training (``call``) runs the same :meth:`step` over the teacher-forced
inputs with ``keras.ops.scan``; inference drives :meth:`step` from
:mod:`models.layers.decoding`.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from models.common import check_choice
from models.layers.attention import ATTENTIONS, make_attention
from models.layers.recurrent import num_states, recurrent_cell


@keras.saving.register_keras_serializable(package="zoo")
class AttentionDecoder(keras.layers.Layer):
    """Decoder over a target vocabulary, attending to encoder outputs ``values``.

    ``call(decoder_inputs, initial_state, values, mask)`` returns logits
    ``(batch, steps, vocab)`` and attention weights ``(batch, steps, src)``.

    Example:

    >>> decoder = AttentionDecoder(vocab_size=7, embedding_dim=4, cell="gru", units=6)
    >>> logits, weights = decoder(keras.ops.ones((2, 3), "int32"), [keras.ops.zeros((2, 6))],
    ...                           keras.ops.ones((2, 5, 8)))
    >>> tuple(logits.shape), tuple(weights.shape)
    ((2, 3, 7), (2, 3, 5))
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 32, cell: str = "gru", units: int = 128,
                 attention: str | None = "bahdanau", attention_units: int | None = None,
                 dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True  # the source mask is an explicit argument
        check_choice("cell", cell, ("gru", "lstm"))
        check_choice("attention", attention, (*ATTENTIONS, None))
        self.vocab_size, self.embedding_dim, self.cell_type, self.units = vocab_size, embedding_dim, cell, units
        self.attention_type, self.attention_units, self.dropout = attention, attention_units or units, dropout
        policy = self.dtype_policy
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, dtype=policy, name="embedding")
        self.cell = recurrent_cell(cell, units, dtype=policy, name=f"{cell}_cell")
        self.attention = (make_attention(attention, self.attention_units, dtype=policy, name="attention")
                          if attention else None)
        self.attentional = (keras.layers.Dense(units, activation="tanh", dtype=policy, name="w_c")
                            if attention == "luong" else None)
        self.drop = keras.layers.Dropout(dropout, dtype=policy)
        # Logits in float32 even under mixed precision (a stable softmax).
        self.output_dense = keras.layers.Dense(vocab_size, dtype="float32", name="logits")

    def build(self, decoder_inputs_shape: tuple, initial_state_shape: Any = None,
              values_shape: tuple | None = None) -> None:
        if values_shape is None:
            raise ValueError("AttentionDecoder needs the encoder outputs ('values')")
        value_dim = values_shape[-1]
        batch = decoder_inputs_shape[0]
        self.embedding.build(decoder_inputs_shape)
        cell_input = self.embedding_dim
        if self.attention_type == "bahdanau":
            cell_input += value_dim
            self.attention.build((batch, self.units), values_shape)
            self._output_width = self.units + value_dim
        elif self.attention_type == "luong":
            cell_input += self.units
            self.attention.build((batch, self.units), values_shape)
            self.attentional.build((batch, self.units + value_dim))
            self._output_width = self.units
        else:
            self._output_width = self.units
        self.cell.build((batch, cell_input))
        self.output_dense.build((batch, None, self._output_width))

    def initial_carry(self, initial_state: list[Any], values: Any) -> dict[str, Any]:
        """The loop state before the first step: cell states, last output, last weights."""
        if len(initial_state) != num_states(self.cell_type):
            raise ValueError(f"a {self.cell_type} decoder needs {num_states(self.cell_type)} initial "
                             f"state tensor(s), got {len(initial_state)}")
        batch = ops.shape(values)[0]
        return {
            "states": list(initial_state),
            "output": ops.zeros((batch, self._output_width), self.compute_dtype),
            "weights": ops.zeros((batch, ops.shape(values)[1]), "float32"),
        }

    def memory(self, values: Any, mask: Any = None) -> dict[str, Any]:
        """What every step reads from the encoder: outputs, their key projection, the mask."""
        if mask is None:
            mask = ops.ones(ops.shape(values)[:2], "bool")
        keys = self.attention.prepare(values) if self.attention is not None else values
        return {"values": values, "keys": keys, "mask": ops.cast(mask, "bool")}

    def advance(self, embedded: Any, carry: dict[str, Any], memory: dict[str, Any],
                training: bool | None = None) -> dict[str, Any]:
        """One decoder step from an embedded previous token ``(batch, embedding_dim)``."""
        states, weights = carry["states"], carry["weights"]
        if self.attention_type == "bahdanau":
            context, weights = self.attention(states[0], memory["values"], keys=memory["keys"],
                                              mask=memory["mask"])
            cell_input = ops.concatenate([embedded, context], axis=-1)
        elif self.attention_type == "luong":
            cell_input = ops.concatenate([embedded, carry["output"]], axis=-1)
        else:
            cell_input = embedded
        hidden, states = self.cell(cell_input, states, training=training)
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if self.attention_type == "bahdanau":
            output = ops.concatenate([hidden, context], axis=-1)
        elif self.attention_type == "luong":
            context, weights = self.attention(hidden, memory["values"], keys=memory["keys"],
                                              mask=memory["mask"])
            output = self.attentional(ops.concatenate([context, hidden], axis=-1))
        else:
            output = hidden
        return {"states": states, "output": output, "weights": weights}

    def step(self, token_ids: Any, carry: dict[str, Any], memory: dict[str, Any]) -> tuple[Any, Any, Any]:
        """Inference step: previous token ids ``(batch,)`` -> ``(logits, carry, weights)``."""
        carry = self.advance(self.embedding(token_ids), carry, memory, training=False)
        return self.output_dense(carry["output"]), carry, carry["weights"]

    def call(self, decoder_inputs: Any, initial_state: list[Any], values: Any, mask: Any = None,
             training: bool | None = None) -> tuple[Any, Any]:
        memory = self.memory(values, mask)
        embedded = self.drop(self.embedding(decoder_inputs), training=training)

        def scan_step(carry: dict[str, Any], x: Any) -> tuple[dict[str, Any], dict[str, Any]]:
            carry = self.advance(x, carry, memory, training=training)
            return carry, carry

        _, steps = ops.scan(scan_step, self.initial_carry(initial_state, values),
                            ops.transpose(embedded, (1, 0, 2)))
        outputs = ops.transpose(steps["output"], (1, 0, 2))
        weights = ops.transpose(steps["weights"], (1, 0, 2))
        return self.output_dense(self.drop(outputs, training=training)), weights

    def compute_output_spec(self, decoder_inputs: Any, initial_state: Any, values: Any,
                            mask: Any = None, training: bool | None = None) -> tuple[Any, Any]:
        batch, steps = decoder_inputs.shape[:2]
        return (keras.KerasTensor((batch, steps, self.vocab_size), dtype="float32"),
                keras.KerasTensor((batch, steps, values.shape[1]), dtype="float32"))

    def compute_mask(self, *args: Any, **kwargs: Any) -> None:
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim, "cell": self.cell_type, "units": self.units,
                "attention": self.attention_type, "attention_units": self.attention_units,
                "dropout": self.dropout}

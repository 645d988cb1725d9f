"""Attention over encoder outputs, as the notes define it for seq2seq.

At decoder step ``i`` every encoder output ``h_j`` gets a score
``e_ij = f(s, h_j)`` against the decoder state ``s``; the weights
``alpha_ij = softmax_j(e_ij)`` (padding excluded) give the context vector
``c_i = sum_j alpha_ij h_j``. Two score functions:

* additive (Bahdanau): ``f(s, h) = v^T tanh(W_h h + W_s s)``;
* multiplicative (Luong): ``f(s, h) = s^T W h`` ("general") or ``s^T h`` ("dot").

The key projections (``W_h h``, ``W h``) do not depend on the decoder step,
so :meth:`prepare` computes them once per source sentence and every step
reuses them.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from models.common import check_choice

ATTENTIONS = ("bahdanau", "luong")
LUONG_SCORES = ("general", "dot")


def masked_softmax(scores: Any, mask: Any = None) -> Any:
    """Softmax over the last axis in float32, with ``mask == False`` positions at weight 0.

    >>> w = masked_softmax(keras.ops.zeros((1, 4)), keras.ops.array([[True, True, False, False]]))
    >>> [round(float(v), 2) for v in keras.ops.convert_to_numpy(w)[0]]
    [0.5, 0.5, 0.0, 0.0]
    """
    scores = ops.cast(scores, "float32")
    if mask is not None:
        mask = ops.cast(mask, "bool")
        scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
    weights = ops.softmax(scores, axis=-1)
    if mask is not None:
        weights = weights * ops.cast(mask, "float32")
    return weights


class _Attention(keras.layers.Layer):
    """Shared call: ``(query, values, keys, mask) -> (context, weights)``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True  # takes the source mask explicitly; outputs carry none

    def compute_mask(self, *args: Any, **kwargs: Any) -> None:
        return None

    def prepare(self, values: Any) -> Any:
        """Step-independent projection of the encoder outputs ``(batch, src, dim)``."""
        raise NotImplementedError

    def score(self, query: Any, keys: Any) -> Any:
        raise NotImplementedError

    def call(self, query: Any, values: Any, keys: Any = None, mask: Any = None) -> tuple[Any, Any]:
        """Context ``(batch, dim)`` and weights ``(batch, src)`` for a query ``(batch, q)``.

        ``keys`` is ``prepare(values)``; pass it to skip recomputing it every step.
        ``mask`` (``(batch, src)``, True for real tokens) keeps padding out.
        """
        if keys is None:
            keys = self.prepare(values)
        weights = masked_softmax(self.score(query, keys), mask)
        context = ops.einsum("bs,bsd->bd", ops.cast(weights, values.dtype), values)
        return context, weights

    def compute_output_spec(self, query: Any, values: Any, keys: Any = None,
                            mask: Any = None) -> tuple[Any, Any]:
        batch, src, dim = values.shape
        return (keras.KerasTensor((batch, dim), dtype=self.compute_dtype),
                keras.KerasTensor((batch, src), dtype="float32"))


@keras.saving.register_keras_serializable(package="zoo")
class BahdanauAttention(_Attention):
    """Additive attention ``v^T tanh(W_h h + W_s s)``.

    Example:

    >>> attention = BahdanauAttention(units=8)
    >>> values = keras.ops.ones((2, 5, 6))
    >>> context, weights = attention(keras.ops.ones((2, 4)), values)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 6), (2, 5))
    """

    def __init__(self, units: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = units
        self.key_dense = keras.layers.Dense(units, use_bias=False, dtype=self.dtype_policy, name="w_h")
        self.query_dense = keras.layers.Dense(units, use_bias=True, dtype=self.dtype_policy, name="w_s")
        self.energy = keras.layers.Dense(1, use_bias=False, dtype=self.dtype_policy, name="v")

    def build(self, query_shape: tuple[int | None, ...], values_shape: tuple[int | None, ...],
              keys_shape: Any = None) -> None:
        self.key_dense.build(values_shape)
        self.query_dense.build(query_shape)
        self.energy.build((None, None, self.units))

    def prepare(self, values: Any) -> Any:
        return self.key_dense(values)

    def score(self, query: Any, keys: Any) -> Any:
        hidden = ops.tanh(keys + ops.expand_dims(self.query_dense(query), 1))
        return ops.squeeze(self.energy(hidden), -1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="zoo")
class LuongAttention(_Attention):
    """Multiplicative attention: ``s^T W h`` (``score="general"``) or ``s^T h`` (``"dot"``).

    Example:

    >>> attention = LuongAttention(score="general")
    >>> context, weights = attention(keras.ops.ones((2, 4)), keras.ops.ones((2, 5, 6)))
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 6), (2, 5))
    """

    def __init__(self, score: str = "general", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        check_choice("score", score, LUONG_SCORES)
        self.score_type = score
        self.key_dense = None

    def build(self, query_shape: tuple[int | None, ...], values_shape: tuple[int | None, ...],
              keys_shape: Any = None) -> None:
        if self.score_type == "general":
            self.key_dense = keras.layers.Dense(query_shape[-1], use_bias=False,
                                                dtype=self.dtype_policy, name="w")
            self.key_dense.build(values_shape)
        elif query_shape[-1] != values_shape[-1]:
            raise ValueError(f"'dot' attention needs equal query and value sizes, got "
                             f"{query_shape[-1]} and {values_shape[-1]}; use score='general'")

    def prepare(self, values: Any) -> Any:
        return self.key_dense(values) if self.key_dense is not None else values

    def score(self, query: Any, keys: Any) -> Any:
        return ops.einsum("bd,bsd->bs", query, keys)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "score": self.score_type}


def make_attention(kind: str, units: int, **kwargs: Any) -> _Attention:
    """``BahdanauAttention(units)`` for ``"bahdanau"``, ``LuongAttention()`` for ``"luong"``."""
    check_choice("attention", kind, ATTENTIONS)
    if kind == "bahdanau":
        return BahdanauAttention(units, **kwargs)
    return LuongAttention("general", **kwargs)

"""Autoregressive decoding loops (greedy and beam search) in ``keras.ops``.

Both loops run inside the graph (``keras.ops.while_loop``) and stop once
every sequence has produced ``end_id`` or ``max_length`` tokens. They know
nothing about the model: a *step function*

    ``step_fn(token_ids, carry) -> (logits, carry, weights)``

maps the previous tokens ``(n,)`` and the decoder carry (any nest of
``(n, ...)`` tensors) to next-token logits ``(n, vocab)``, the new carry and
per-step attention weights ``(n, src)`` (zeros without attention). Beam
search calls it with ``n = batch * beam_width``: whatever the step function
closes over (encoder outputs, masks) must be repeated with :func:`tile_beams`.

Positions after ``end_id`` hold ``pad_id`` and zero weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
from keras import ops

StepFn = Callable[[Any, Any], tuple[Any, Any, Any]]
_NEG_INF = -1e9


def tile_beams(x: Any, beam_width: int) -> Any:
    """Repeats every batch row ``beam_width`` times: ``(b, ...) -> (b * beam_width, ...)``."""
    return keras.tree.map_structure(lambda t: ops.repeat(t, beam_width, axis=0), x)


def _write(buffer: Any, index: Any, value: Any, axis: int) -> Any:
    """``buffer`` with ``value`` written at ``index`` along ``axis`` (which must be empty there)."""
    hot = ops.one_hot(index, buffer.shape[axis], dtype=buffer.dtype)
    shape = [1] * len(buffer.shape)
    shape[axis] = buffer.shape[axis]
    return buffer + ops.reshape(hot, shape) * ops.expand_dims(ops.cast(value, buffer.dtype), axis)


def greedy_decode(step_fn: StepFn, initial_carry: Any, batch_size: Any, source_length: int, *,
                  start_id: int, end_id: int, max_length: int, pad_id: int = 0) -> dict[str, Any]:
    """Picks the most likely token at every step.

    Returns ``{"ids": (b, max_length) int32, "weights": (b, max_length, src)
    float32, "lengths": (b,) int32}``; ``ids`` include ``end_id`` when it was
    produced, ``lengths`` count the tokens before it.

    Example (a toy step function that always prefers token ``prev + 1``):

    >>> def step(prev, carry):
    ...     return keras.ops.one_hot(prev + 1, 5) * 3.0, carry, keras.ops.zeros((1, 2))
    >>> out = greedy_decode(step, keras.ops.zeros((1, 1)), 1, 2, start_id=0, end_id=3, max_length=6)
    >>> keras.ops.convert_to_numpy(out["ids"]).tolist(), keras.ops.convert_to_numpy(out["lengths"]).tolist()
    ([[1, 2, 3, 0, 0, 0]], [2])
    """
    ids = ops.zeros((batch_size, max_length), "int32")
    weights = ops.zeros((batch_size, max_length, source_length), "float32")
    tokens = ops.full((batch_size,), start_id, "int32")
    finished = ops.zeros((batch_size,), "bool")
    lengths = ops.zeros((batch_size,), "int32")

    def cond(i, tokens, carry, ids, weights, finished, lengths):
        return ops.logical_and(i < max_length, ops.logical_not(ops.all(finished)))

    def body(i, tokens, carry, ids, weights, finished, lengths):
        logits, carry, step_weights = step_fn(tokens, carry)
        alive = ops.logical_not(finished)
        tokens = ops.where(alive, ops.cast(ops.argmax(logits, axis=-1), "int32"), pad_id)
        ids = _write(ids, i, tokens, axis=1)
        step_weights = ops.cast(step_weights, "float32") * ops.cast(alive, "float32")[:, None]
        weights = _write(weights, i, step_weights, axis=1)
        ended = ops.logical_and(alive, ops.equal(tokens, end_id))
        lengths = lengths + ops.cast(ops.logical_and(alive, ops.logical_not(ended)), "int32")
        return i + 1, tokens, carry, ids, weights, ops.logical_or(finished, ended), lengths

    loop = (ops.convert_to_tensor(0, "int32"), tokens, initial_carry, ids, weights, finished, lengths)
    _, _, _, ids, weights, _, lengths = ops.while_loop(cond, body, loop, maximum_iterations=max_length)
    return {"ids": ids, "weights": weights, "lengths": lengths}


def _gather_beams(x: Any, parents: Any, batch_size: Any, beam_width: int, flat: bool) -> Any:
    """Reorders beams: row ``k`` of every batch entry takes beam ``parents[:, k]``.

    ``x`` is ``(b, k, ...)``, or ``(b * k, ...)`` when ``flat``.
    """
    shape = ops.shape(x)
    if flat:
        x = ops.reshape(x, (batch_size, beam_width, *shape[1:]))
    index = ops.reshape(parents, (*ops.shape(parents), *([1] * (len(x.shape) - 2))))
    x = ops.take_along_axis(x, ops.cast(index, "int32"), axis=1)
    return ops.reshape(x, shape) if flat else x


def length_normalizer(lengths: Any, alpha: float) -> Any:
    """GNMT length penalty ``((5 + length) / 6) ** alpha``; ``alpha=0`` ranks by raw log-probability."""
    return ops.power((5.0 + ops.cast(lengths, "float32")) / 6.0, alpha)


def beam_search_decode(step_fn: StepFn, initial_carry: Any, batch_size: Any, source_length: int, *,
                       start_id: int, end_id: int, max_length: int, beam_width: int = 4,
                       length_penalty: float = 0.6, pad_id: int = 0) -> dict[str, Any]:
    """Keeps the ``beam_width`` most likely prefixes at every step.

    ``initial_carry`` has ``batch_size`` rows (it is tiled here);
    ``step_fn`` works on ``batch_size * beam_width`` rows. A finished beam
    only extends with ``pad_id`` at no cost. The best beam by length-normalised
    log-probability (:func:`length_normalizer`) is returned as for
    :func:`greedy_decode`, with its ``scores`` ``(b,)`` and every beam's ids in
    ``beam_ids`` ``(b, beam_width, max_length)``.

    Example (the locally best first token 1 leads to a worse sequence than 2):

    >>> import numpy as np
    >>> table = np.full((5, 5), -9.0, "float32")
    >>> table[0, 1], table[0, 2] = np.log(0.6), np.log(0.4)   # after start (0): 1 or 2
    >>> table[1, 3], table[1, 4] = np.log(0.5), np.log(0.5)   # after 1: 3 or 4 at 0.5
    >>> table[2, 3] = 0.0                                      # after 2: surely 3 (the end)
    >>> table[4, 3] = 0.0
    >>> step = lambda prev, carry: (keras.ops.take(table, prev, axis=0), carry, keras.ops.zeros((prev.shape[0], 1)))
    >>> out = beam_search_decode(step, keras.ops.zeros((1, 1)), 1, 1, start_id=0, end_id=3,
    ...                          max_length=4, beam_width=2, length_penalty=0.0)
    >>> keras.ops.convert_to_numpy(out["ids"]).tolist()
    [[2, 3, 0, 0]]
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1, got {beam_width}")
    carry = tile_beams(initial_carry, beam_width)
    ids = ops.zeros((batch_size, beam_width, max_length), "int32")
    weights = ops.zeros((batch_size, beam_width, max_length, source_length), "float32")
    tokens = ops.full((batch_size * beam_width,), start_id, "int32")
    # All beams start identical: only the first may expand at step 0.
    first = ops.concatenate([ops.zeros((1,)), ops.full((beam_width - 1,), _NEG_INF)])
    scores = ops.tile(ops.expand_dims(first, 0), (batch_size, 1))
    finished = ops.zeros((batch_size, beam_width), "bool")
    lengths = ops.zeros((batch_size, beam_width), "int32")

    def cond(i, tokens, carry, ids, weights, scores, finished, lengths):
        return ops.logical_and(i < max_length, ops.logical_not(ops.all(finished)))

    def body(i, tokens, carry, ids, weights, scores, finished, lengths):
        logits, carry, step_weights = step_fn(tokens, carry)
        vocab = logits.shape[-1]
        log_probs = ops.reshape(ops.log_softmax(ops.cast(logits, "float32"), axis=-1),
                                (batch_size, beam_width, vocab))
        # A finished beam continues with pad at log-probability 0 (its score stays).
        pad_only = ops.where(ops.one_hot(pad_id, vocab) > 0, 0.0, _NEG_INF)
        log_probs = ops.where(finished[:, :, None], pad_only[None, None, :], log_probs)
        total = ops.reshape(scores[:, :, None] + log_probs, (batch_size, beam_width * vocab))
        scores, flat_index = ops.top_k(total, beam_width)
        parents = flat_index // vocab
        new_tokens = ops.cast(flat_index % vocab, "int32")

        carry = keras.tree.map_structure(
            lambda t: _gather_beams(t, parents, batch_size, beam_width, flat=True), carry)
        step_weights = ops.reshape(ops.cast(step_weights, "float32"), (batch_size, beam_width, -1))
        step_weights, ids, weights, finished, lengths = (
            _gather_beams(t, parents, batch_size, beam_width, flat=False)
            for t in (step_weights, ids, weights, finished, lengths))

        alive = ops.logical_not(finished)
        ids = _write(ids, i, new_tokens, axis=2)
        weights = _write(weights, i, step_weights * ops.cast(alive, "float32")[..., None], axis=2)
        ended = ops.logical_and(alive, ops.equal(new_tokens, end_id))
        lengths = lengths + ops.cast(ops.logical_and(alive, ops.logical_not(ended)), "int32")
        finished = ops.logical_or(finished, ended)
        return (i + 1, ops.reshape(new_tokens, (-1,)), carry, ids, weights, scores, finished, lengths)

    loop = (ops.convert_to_tensor(0, "int32"), tokens, carry, ids, weights, scores, finished, lengths)
    _, _, _, ids, weights, scores, finished, lengths = ops.while_loop(
        cond, body, loop, maximum_iterations=max_length)
    # Unfinished beams count their full length; finished ones their tokens plus the end.
    ranked = scores / length_normalizer(lengths + ops.cast(finished, "int32"), length_penalty)
    best = ops.argmax(ranked, axis=1)[:, None]

    def pick(x: Any) -> Any:
        return ops.squeeze(_gather_beams(x, best, batch_size, 1, flat=False), 1)

    return {"ids": pick(ids), "weights": pick(weights), "lengths": pick(lengths),
            "scores": ops.squeeze(ops.take_along_axis(scores, ops.cast(best, "int32"), axis=1), 1),
            "beam_ids": ids}

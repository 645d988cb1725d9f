"""BERT's masked-LM corruption, as the notes define it, seeded and in the graph.

:class:`BertMasker` selects ``selection_rate`` (15%) of the WordPiece tokens of
each packed sequence, never a reserved token (``[PAD] [CLS] [SEP] [UNK]
[MASK]``), and replaces each selected token by ``[MASK]`` with probability
``mask_token_rate`` (80%), by a random non-reserved token with
``random_token_rate`` (10%), or keeps it (the rest, 10%). The model predicts
the original token at the selected positions only (``mask_weights``).

The number of tokens selected in a sequence of ``n`` selectable tokens is
``floor(rate * n + v)`` with ``v`` uniform in [0, 1): exactly ``rate * n`` in
expectation, so the rate holds on any mix of lengths (short sequences may
have none). At most ``max_selections`` (``ceil(rate * sequence_length)`` by
default) are kept.

Two modes:

* random (training, dynamic masking): draws from ``keras.random`` with the
  layer's ``SeedGenerator``, so a new corruption every step, and the same
  sequence of corruptions for the same ``seed``.
* ``deterministic=True`` (held-out evaluation): the draws are a hash of the
  token ids and positions, so the same text always gets the same selection
  whatever the batch, and every selected token becomes ``[MASK]``: what a
  served ``masked_lm`` signature and a validation pass score on.

keras-hub's ``MaskedLMMaskGenerator`` does the same corruption, but draws
through tensorflow-text's unseeded selectors on ragged batches in ``tf.data``;
this layer is dense, seeded, and runs in the train step.

Example:

>>> masker = BertMasker(vocabulary_size=50, max_selections=4, seed=1)
>>> ids = keras.ops.convert_to_tensor([[1, 10, 11, 12, 13, 14, 15, 16, 17, 2, 0, 0]])
>>> out = masker(ids, deterministic=True)
>>> weights = keras.ops.convert_to_numpy(out["mask_weights"])
>>> positions = keras.ops.convert_to_numpy(out["mask_positions"])[weights > 0]
>>> masked = keras.ops.convert_to_numpy(out["token_ids"])[0]
>>> bool(set(masked[positions]) == {4}), bool(all(masked[i] == ids[0, i] for i in range(12) if i not in positions))
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from models.features import wordpiece

_PRIME = 2147483647  # 2**31 - 1: the hash's modulus; every product below stays under 2**63


@keras.saving.register_keras_serializable(package="zoo")
class BertMasker(keras.layers.Layer):
    """Token ids ``[batch, length]`` -> masked ids and what the masked LM predicts.

    Args:
        vocabulary_size: size of the WordPiece vocabulary (random replacements
            are drawn from the non-reserved ids ``[len(unselectable_ids), vocabulary_size)``).
        selection_rate, mask_token_rate, random_token_rate: BERT's 15% / 80% / 10%.
        max_selections: predictions per sequence (the width of the outputs).
        unselectable_ids: ids never selected (the reserved tokens, ids ``0 ..``).
        mask_id: the ``[MASK]`` id.
        seed: seed of the random mode's draws.

    Call ``(token_ids, deterministic=False)``; returns ``token_ids`` (corrupted),
    ``mask_positions`` (int32 ``[batch, max_selections]``), ``mask_ids`` (the
    original ids there) and ``mask_weights`` (float32, 1 where a slot holds a
    selected token, 0 in unused slots).
    """

    def __init__(self, vocabulary_size: int, selection_rate: float = 0.15, mask_token_rate: float = 0.8,
                 random_token_rate: float = 0.1, max_selections: int = 20,
                 unselectable_ids: Sequence[int] = tuple(range(len(wordpiece.RESERVED_TOKENS))),
                 mask_id: int = wordpiece.MASK_ID, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for name, value in (("selection_rate", selection_rate), ("mask_token_rate", mask_token_rate),
                            ("random_token_rate", random_token_rate)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if mask_token_rate + random_token_rate > 1.0:
            raise ValueError(f"mask_token_rate + random_token_rate must be <= 1, got "
                             f"{mask_token_rate} + {random_token_rate}")
        if max_selections < 1:
            raise ValueError(f"max_selections must be >= 1, got {max_selections}")
        self.vocabulary_size = int(vocabulary_size)
        self.selection_rate = float(selection_rate)
        self.mask_token_rate = float(mask_token_rate)
        self.random_token_rate = float(random_token_rate)
        self.max_selections = int(max_selections)
        self.unselectable_ids = tuple(int(i) for i in unselectable_ids)
        self.mask_id = int(mask_id)
        self.seed = seed
        self.first_random_id = max(self.unselectable_ids) + 1
        if self.vocabulary_size <= self.first_random_id:
            raise ValueError(f"vocabulary_size {vocabulary_size} leaves no token to select "
                             f"(ids < {self.first_random_id} are reserved)")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    @staticmethod
    def max_selections_for(sequence_length: int, selection_rate: float = 0.15) -> int:
        """Enough slots for every selection in a sequence of ``sequence_length`` tokens.

        >>> BertMasker.max_selections_for(128)
        20
        """
        return max(1, math.ceil(selection_rate * sequence_length))

    def selectable(self, token_ids: Any) -> Any:
        """Bool ``[batch, length]``: which tokens may be selected (not reserved)."""
        selectable = ops.ones_like(token_ids, dtype="bool")
        for token in self.unselectable_ids:
            selectable = ops.logical_and(selectable, ops.not_equal(token_ids, token))
        return selectable

    @staticmethod
    def _hash_uniform(token_ids: Any, salts: Sequence[int]) -> list[Any]:
        """Deterministic uniforms in [0, 1), ``[batch, length]`` each: a hash of the
        sequence's ids, the position, the token and ``salt``."""
        ids = ops.cast(token_ids, "int64")
        length = ops.shape(ids)[1]
        positions = ops.arange(1, length + 1, dtype="int64")[None, :]
        row = ops.mod(ops.sum(ops.mod(ids * ops.mod(positions * 2654435761, _PRIME), _PRIME), axis=1,
                              keepdims=True), _PRIME)
        draws = []
        for salt in salts:
            x = ops.mod(row * 48271 + positions * 16807 + ids * 69621 + salt, _PRIME)
            for _ in range(3):
                x = ops.mod(ops.mod(x * x, _PRIME) * 48271 + 12345, _PRIME)
            draws.append(ops.cast(x, "float32") / float(_PRIME))
        return draws

    def call(self, token_ids: Any, deterministic: bool = False) -> dict[str, Any]:
        token_ids = ops.cast(token_ids, "int32")
        shape = ops.shape(token_ids)
        length = token_ids.shape[1] if token_ids.shape[1] is not None else shape[1]
        slots = min(self.max_selections, length) if isinstance(length, int) else self.max_selections
        if deterministic:
            order, rounding, choice, pick = self._hash_uniform(token_ids, (1, 2, 3, 4))
            rounding = rounding[:, :1]
            # held-out scoring: every selected token becomes [MASK]
            choice = ops.zeros_like(choice)
        else:
            seed = self.seed_generator
            order = keras.random.uniform(shape, seed=seed)
            rounding = keras.random.uniform((shape[0], 1), seed=seed)
            choice = keras.random.uniform(shape, seed=seed)
            pick = keras.random.uniform(shape, seed=seed)

        selectable = self.selectable(token_ids)
        count = ops.sum(ops.cast(selectable, "float32"), axis=1, keepdims=True)
        chosen = ops.minimum(ops.floor(self.selection_rate * count + rounding), float(slots))  # [batch, 1]
        # the `chosen` selectable positions of lowest draw; unselectable ones sort last
        score = ops.where(selectable, order, 2.0)
        neg_scores, positions = ops.top_k(-score, k=slots)
        slot = ops.arange(slots, dtype="float32")[None, :]
        weights = ops.cast(ops.logical_and(slot < chosen, neg_scores > -1.5), "float32")
        positions = ops.cast(positions, "int32")

        original = ops.take_along_axis(token_ids, positions, axis=1)
        slot_choice = ops.take_along_axis(choice, positions, axis=1)
        slot_pick = ops.take_along_axis(pick, positions, axis=1)
        span = self.vocabulary_size - self.first_random_id
        random_ids = ops.minimum(ops.cast(slot_pick * span, "int32"), span - 1) + self.first_random_id
        replacement = ops.where(slot_choice < self.mask_token_rate, self.mask_id,
                                ops.where(slot_choice < self.mask_token_rate + self.random_token_rate,
                                          random_ids, original))
        # scatter the replacements (positions in a row are distinct)
        hits = ops.one_hot(positions, shape[1], dtype="int32") * ops.cast(weights, "int32")[:, :, None]
        replaced = ops.sum(hits, axis=1)
        values = ops.sum(hits * ops.cast(replacement, "int32")[:, :, None], axis=1)
        masked = token_ids * (1 - replaced) + values
        return {"token_ids": masked, "mask_positions": positions, "mask_ids": original, "mask_weights": weights}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "selection_rate": self.selection_rate, "mask_token_rate": self.mask_token_rate,
                "random_token_rate": self.random_token_rate, "max_selections": self.max_selections,
                "unselectable_ids": list(self.unselectable_ids), "mask_id": self.mask_id, "seed": self.seed}

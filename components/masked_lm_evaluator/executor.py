"""Executor of the MaskedLMEvaluator.

* ``masked_token_accuracy``: held-out masked-token accuracy, the sum of the
  ``masked_correct`` counts over the sum of the ``masked_total`` counts that
  the family's ``masked_lm`` signature returns per example (its selection of
  15% of the WordPiece tokens is deterministic, so a candidate and its
  baseline are judged on the same positions).
* ``next_sentence_accuracy``: share of pairs whose ``next_sentence_probability``
  is on the side of 0.5 the raw label says.

For the report: a table of ``fill_mask`` answers on held-out sentences with
one word replaced by ``[MASK]`` (the word, and the signature's top tokens).
Thresholds, blessing and the verdict are :mod:`components.evaluator.blessing`'s,
the flow :mod:`components.evaluator.base`'s.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from components.evaluator.base import EvaluatorExecutor, exec_property
from components.evaluator.blessing import HIGHER
from components.evaluator.served import ServedModel
from components.figures import Figure
from models.base import FILL_MASK, MASKED_LM

METRICS = {"masked_token_accuracy": HIGHER, "next_sentence_accuracy": HIGHER}
MASK = "[MASK]"
TABLE_EXAMPLES = 12  # rows of the fill_mask table
MIN_WORD = 4         # the masked word of a table row: the longest alphabetic word, at least this long


def int_feature(serialized: bytes, key: str) -> int | None:
    values = tf.train.Example.FromString(serialized).features.feature[key].int64_list.value
    return int(values[0]) if values else None


def text_feature(serialized: bytes, key: str) -> str:
    values = tf.train.Example.FromString(serialized).features.feature[key].bytes_list.value
    return values[0].decode("utf-8", "replace") if values else ""


def masked_token_accuracy(correct: np.ndarray, total: np.ndarray) -> float:
    """Pooled accuracy over every selected token of every example.

    >>> masked_token_accuracy(np.array([1, 3]), np.array([2, 4]))
    0.6666666666666666
    """
    total_count = float(np.sum(total))
    if total_count == 0:
        raise ValueError("the masked_lm signature selected no token in the whole eval split")
    return float(np.sum(correct)) / total_count


def next_sentence_accuracy(probability: np.ndarray, labels: np.ndarray) -> float:
    """Share of pairs whose IsNext probability is on the labelled side of 0.5.

    >>> next_sentence_accuracy(np.array([0.9, 0.2, 0.6]), np.array([1, 0, 0]))
    0.6666666666666666
    """
    return float(np.mean((np.asarray(probability).reshape(-1) >= 0.5) == (np.asarray(labels).reshape(-1) == 1)))


def mask_a_word(text: str) -> tuple[str, str] | None:
    """``(text with its longest alphabetic word replaced by [MASK], that word)``, or ``None``.

    >>> mask_a_word("The quick brown fox.")
    ('The [MASK] brown fox.', 'quick')
    """
    words = [m for m in re.finditer(r"[A-Za-z]+", text) if len(m.group()) >= MIN_WORD]
    if not words:
        return None
    word = max(words, key=lambda m: len(m.group()))
    return text[:word.start()] + MASK + text[word.end():], word.group()


def _strings(values: Any) -> list[str]:
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in np.asarray(values).reshape(-1)]


class Executor(EvaluatorExecutor):
    METRICS = METRICS

    def parameters(self, exec_properties: Mapping[str, Any]) -> dict[str, Any]:
        return {"label_key": exec_property(exec_properties, "label_key", "next_sentence"),
                "text_key": exec_property(exec_properties, "text_key", "text_a")}

    def evaluate(self, model: ServedModel, examples: Sequence[bytes], params: Mapping[str, Any]) -> dict[str, float]:
        name = model.first(MASKED_LM)
        if name is None:
            raise ValueError(f"the model's signature roles {model.roles} include no '{MASKED_LM}' signature")
        out = model.call_on_examples(name, examples)
        for key in ("masked_correct", "masked_total", "next_sentence_probability"):
            if key not in out:
                raise ValueError(f"signature {name!r} must return '{key}'; it returns {sorted(out)}")
        labels = np.array([int_feature(r, params["label_key"]) for r in examples])
        if any(label is None for label in labels):
            raise ValueError(f"every eval example needs the next-sentence label '{params['label_key']}'")
        return {"masked_token_accuracy": masked_token_accuracy(out["masked_correct"], out["masked_total"]),
                "next_sentence_accuracy": next_sentence_accuracy(out["next_sentence_probability"], labels)}

    def figures(self, model: ServedModel, examples: Sequence[bytes], params: Mapping[str, Any]) -> list[Figure]:
        name = model.first(FILL_MASK)
        if name is None:
            return []
        masked = [m for m in (mask_a_word(text_feature(r, params["text_key"])) for r in examples) if m]
        masked = masked[:TABLE_EXAMPLES]
        if not masked:
            return []
        strings = [key for key, spec in model.inputs(name).items() if spec.dtype == tf.string]
        if len(strings) != 1:
            raise ValueError(f"signature {name!r} must take one string input; it takes {sorted(model.inputs(name))}")
        out = model.call(name, {strings[0]: np.array([text.encode() for text, _ in masked], dtype=object)})
        token_key = next((k for k, v in out.items() if v.dtype == object), None)
        if token_key is None:
            raise ValueError(f"signature {name!r} returns no tokens: {sorted(out)}")
        rows = []
        for (text, word), tokens in zip(masked, out[token_key]):
            top = _strings(tokens)
            rows.append([text, word, ", ".join(t for t in top if t), "yes" if word.lower() in top else "no"])
        return [Figure("fill_mask", "table", "fill_mask on held-out sentences",
                       f"The longest word of each held-out sentence replaced by {MASK}; the top tokens the "
                       f"served {name} signature proposes (for the first [MASK]).",
                       labels={"header": ["text", "masked word", "top tokens", "word in top"], "rows": rows})]

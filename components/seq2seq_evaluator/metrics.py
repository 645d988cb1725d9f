"""Sequence metrics on decoded strings: exact match and corpus BLEU. Pure Python."""

from __future__ import annotations

import collections
import math
from collections.abc import Sequence


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Share of predictions equal to their reference (surrounding spaces ignored).

    >>> exact_match(["2020-01-02", "x"], ["2020-01-02", "y"])
    0.5
    """
    if len(predictions) != len(references) or not references:
        raise ValueError(f"need as many predictions as references (>0); got {len(predictions)}, {len(references)}")
    return sum(p.strip() == r.strip() for p, r in zip(predictions, references)) / len(references)


def _ngrams(tokens: Sequence[str], n: int) -> collections.Counter:
    return collections.Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]],
                max_order: int = 4) -> float:
    """Corpus BLEU (Papineni et al.) with one reference each, in [0, 1], no smoothing.

    >>> corpus_bleu([list("2020-01-02")], [list("2020-01-02")])
    1.0
    """
    matches, totals = [0] * max_order, [0] * max_order
    hypothesis_length = reference_length = 0
    for hypothesis, reference in zip(predictions, references):
        hypothesis_length += len(hypothesis)
        reference_length += len(reference)
        for n in range(1, max_order + 1):
            hyp, ref = _ngrams(hypothesis, n), _ngrams(reference, n)
            matches[n - 1] += sum(min(count, ref[gram]) for gram, count in hyp.items())
            totals[n - 1] += max(len(hypothesis) - n + 1, 0)
    if min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_order
    brevity = 1.0 if hypothesis_length > reference_length else math.exp(
        1 - reference_length / max(hypothesis_length, 1))
    return brevity * math.exp(log_precision)

"""Offline review corpus whose labels depend on word order and negation scope.

Most reviews contrast two clauses about a film, a *main* clause whose
sentiment is the label and a *conceded* one of the opposite sentiment
(a quarter have the main clause alone):
"Although the plot was not dull, the acting was truly awful." Which clause
is the main one depends on the connective and the order ("X, but Y",
"although X, Y", "Y, even though X", "Y. X, but that did not matter"), and
each clause's sentiment is its adjective's, flipped when a negation has it in
scope ("was not", "was never", "I would not say ... was", "nobody could call").
Neutral sentences pad either end, so the deciding word is often far from the end.

By construction every single word's count is independent of the label
(each clause is negated with probability 1/2, adjectives come from the same
pools in both clauses): the label is an interaction of negation, adjective
and clause order, so a bag-of-words model stays near chance while a
sequence model can learn the rules. Generation is deterministic (fixed seeds); test
texts never occur in train.

The TFDS builder ``zoo_reviews`` has the features of ``imdb_reviews``
(``text``, ``label`` with names ``neg``/``pos``)::

    import tensorflow_datasets as tfds
    from datasets import reviews  # registers the builder
    ds = tfds.load("zoo_reviews", split="train", data_dir=...)
"""

from __future__ import annotations

import random
from typing import ClassVar

import tensorflow_datasets as tfds

from datasets import is_registered
from datasets.generated import GeneratedBuilder, disjoint_splits, distinct

POSITIVE = ("great", "wonderful", "brilliant", "superb", "excellent", "delightful", "moving",
            "gripping", "charming", "clever", "beautiful", "fantastic")
NEGATIVE = ("awful", "boring", "dull", "terrible", "clumsy", "tedious", "bland", "weak", "painful",
            "lifeless", "predictable", "dreadful")
ASPECTS = ("the plot", "the acting", "the script", "the soundtrack", "the pacing", "the dialogue",
           "the ending", "the cast", "the direction", "the camera work", "the story", "the humour")
INTENSIFIERS = ("", "", "really", "truly", "very", "quite", "remarkably")
# Clause forms: {a} aspect, {i} intensifier, {j} adjective. A negation flips the adjective.
AFFIRMED = (
    "{a} was {i} {j}",
    "{a} felt {i} {j}",
    "i found {a} {i} {j}",
    "{a} turned out {i} {j}",
    "everyone could call {a} {j}",
)
NEGATED = (
    "{a} was not {i} {j}",
    "{a} was never {j}",
    "{a} did not feel {i} {j}",
    "i would not say {a} was {i} {j}",
    "nobody could call {a} {j}",
)
# Review shapes: M = main clause (carries the label), C = conceded clause.
SHAPES = (
    "{C} , but {M} .",
    "although {C} , {M} .",
    "{M} , although {C} .",
    "{M} , even though {C} .",
    "{C} . however , {M} .",
    "despite the fact that {C} , {M} .",
    "{M} . {C} , but that did not matter .",
    "{M} . sure , {C} .",
)
FILLERS = (
    "i saw it on a {d} with my {p} .",
    "my {p} picked it .",
    "the cinema was {c} that night .",
    "it runs about two hours .",
    "we went to the late show on {d} .",
    "i knew nothing about it before .",
    "my {p} had read the book .",
    "we shared a big box of popcorn .",
)
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PEOPLE = ("brother", "sister", "friend", "neighbour", "mother", "father", "cousin", "partner")
CROWDS = ("crowded", "quiet", "half empty", "packed", "cold")
LABELS = ("neg", "pos")
SINGLE_CLAUSE = 0.25  # share of reviews with the main clause alone
TRAIN_SIZE, TEST_SIZE = 5000, 1000


def _clause(rng: random.Random, positive: bool) -> str:
    """A clause about one aspect whose sentiment (after any negation) is ``positive``."""
    negated = rng.random() < 0.5
    adjective = rng.choice(POSITIVE if positive != negated else NEGATIVE)
    template = rng.choice(NEGATED if negated else AFFIRMED)
    text = template.format(a=rng.choice(ASPECTS), i=rng.choice(INTENSIFIERS), j=adjective)
    return " ".join(text.split())


def _filler(rng: random.Random) -> str:
    return rng.choice(FILLERS).format(d=rng.choice(DAYS), p=rng.choice(PEOPLE), c=rng.choice(CROWDS))


def _surface(tokens: str, rng: random.Random) -> str:
    """Written form: sentence case, punctuation attached, sometimes '!' or extra spaces."""
    words, out, start = tokens.split(), [], True
    for word in words:
        if word in (",", ".") and out:
            out[-1] += "!" if word == "." and rng.random() < 0.1 else word
            start = word == "."
            continue
        out.append(word.capitalize() if start and rng.random() < 0.9 else word)
        start = False
    return " ".join(out)


def review(rng: random.Random, label: int) -> str:
    """One review whose sentiment is ``label`` (1 = positive)."""
    shape = "{M} ." if rng.random() < SINGLE_CLAUSE else rng.choice(SHAPES)
    body = shape.format(M=_clause(rng, bool(label)), C=_clause(rng, not label))
    before = [_filler(rng) for _ in range(rng.choice((0, 0, 1, 2)))]
    after = [_filler(rng) for _ in range(rng.choice((0, 1, 2, 3)))]
    return _surface(" ".join([*before, body, *after]), rng)


def generate(size: int, seed: int, exclude: frozenset[str] = frozenset()) -> list[dict[str, object]]:
    """``size`` distinct examples ``{"text", "label"}``, balanced labels, none in ``exclude``."""
    rng = random.Random(seed)
    examples = distinct(rng, lambda rng, index: {"text": review(rng, index % 2), "label": index % 2}, "text",
                        size, exclude)
    rng.shuffle(examples)
    return examples


def splits(train_size: int = TRAIN_SIZE, test_size: int = TEST_SIZE) -> dict[str, list[dict[str, object]]]:
    """The corpus: ``{"train": [...], "test": [...]}`` (deterministic, disjoint)."""
    return disjoint_splits(generate, "text", {"train": (train_size, 20240601), "test": (test_size, 20240602)})


class ZooReviews(GeneratedBuilder, skip_registration=is_registered("zoo_reviews")):
    """Synthetic film reviews; the label depends on order and negation scope."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Contrast clauses, negation scope, neutral fillers."}

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict({
                "text": tfds.features.Text(),
                "label": tfds.features.ClassLabel(names=list(LABELS)),
            }),
            supervised_keys=("text", "label"),
        )

    def corpus(self) -> dict[str, list[dict[str, object]]]:
        return splits()

"""Corpora generated in memory from fixed seeds, and the TFDS builder that serves them.

``zoo_reviews`` and ``zoo_dates`` draw examples from a seeded ``random.Random``
until they have enough distinct ones; the test split excludes everything in
train. A builder subclasses :class:`GeneratedBuilder` and says what its
corpus is; TFDS does the rest.

>>> import random
>>> draw = lambda rng, index: {"x": rng.randrange(5), "index": index}
>>> examples = distinct(random.Random(0), draw, "x", 3, exclude=frozenset({0}))
>>> sorted(e["x"] for e in examples), [e["index"] for e in examples]
([2, 3, 4], [0, 1, 2])
>>> corpus = disjoint_splits(lambda size, seed, exclude: distinct(random.Random(seed), draw, "x", size, exclude),
...                          "x", {"train": (3, 1), "test": (2, 2)})
>>> set(e["x"] for e in corpus["train"]) & set(e["x"] for e in corpus["test"])
set()
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import tensorflow_datasets as tfds

Example = dict[str, Any]


def distinct(rng: random.Random, draw: Callable[[random.Random, int], Example], key: str, size: int,
             exclude: frozenset = frozenset()) -> list[Example]:
    """``size`` examples from ``draw(rng, index of the next example)``, distinct in
    ``key`` and none whose ``key`` is in ``exclude``."""
    seen, examples = set(exclude), []
    while len(examples) < size:
        example = draw(rng, len(examples))
        if example[key] not in seen:
            seen.add(example[key])
            examples.append(example)
    return examples


def disjoint_splits(generate: Callable[..., list[Example]], key: str,
                    splits: Mapping[str, tuple[int, int]]) -> dict[str, list[Example]]:
    """``{split: generate(size, seed=seed, exclude=keys of the splits before)}`` for
    ``splits = {split: (size, seed)}`` in order: no ``key`` occurs in two splits."""
    corpus, taken = {}, frozenset()
    for name, (size, seed) in splits.items():
        corpus[name] = generate(size, seed=seed, exclude=taken)
        taken = taken | {example[key] for example in corpus[name]}
    return corpus


class GeneratedBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A TFDS builder whose splits are :meth:`corpus`, generated in memory."""

    def corpus(self) -> dict[str, list[Example]]:
        raise NotImplementedError

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict[str, Iterator]:
        return {name: self._generate_examples(examples) for name, examples in self.corpus().items()}

    def _generate_examples(self, examples: list[Example]) -> Iterator[tuple[int, Example]]:
        yield from enumerate(examples)

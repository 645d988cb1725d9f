"""Sentence-pair classification on real text: do two sentences come from the same document?

The fine-tuning task for the BERT-style encoder's two-string signature. The
documents are those of the pretraining corpus (:mod:`datasets.corpus`): the
Python reference-manual topics that ship with Python and the docstrings of
numpy and the standard library, one document per topic, module, function or
class. Each example is ``text_a``, ``text_b`` and ``label``:

- ``same`` (1): two different sentences of one document;
- ``different`` (0): a sentence and a sentence of another document of the
  same source (manual with manual, docstring with docstring).

Labels are exact: only sentences that occur in exactly one document are used
(boilerplate such as "New in version 3.5." appears in many, so a pair of them
could be both), and a pair never repeats within a split. Exactly half of each
split is ``same``; the sources take equal shares while they last.

Splits are by document with the corpus' own rule (:func:`datasets.corpus.in_test`),
so a test sentence never occurs in ``zoo_corpus``' train split either: an
encoder pretrained on ``zoo_corpus`` has not seen the text it is evaluated on.
Deterministic (seeded); sizes and seed are :class:`PairsConfig` fields.

>>> from datasets.corpus import Document
>>> docs = [Document("a:1", "a", ("One two three.", "Four five six.")),
...         Document("a:2", "a", ("Seven eight nine.", "Ten eleven twelve."))]
>>> examples = same_document_pairs(docs, size=4, seed=0)
>>> sorted(e["label"] for e in examples)
[0, 0, 1, 1]
"""

from __future__ import annotations

import collections
import dataclasses
import random
from collections.abc import Sequence
from typing import ClassVar

import tensorflow_datasets as tfds

from datasets import corpus, is_registered
from datasets.generated import GeneratedBuilder

LABEL = "label"  # models/features/wordpiece.py's LABEL (a test checks they match)
LABELS = ("different", "same")
SOURCES = ("pydoc", "docstrings")
TRAIN_PAIRS, TEST_PAIRS, SEED = 3000, 500, 20240621


def unique_sentences(docs: Sequence[corpus.Document]) -> list[corpus.Document]:
    """``docs`` keeping only the sentences that occur in exactly one document (once)."""
    owners = collections.Counter(s for d in docs for s in set(d.sentences))
    repeated = collections.Counter(s for d in docs for s in d.sentences)
    return [dataclasses.replace(d, sentences=tuple(s for s in d.sentences if owners[s] == 1 and repeated[s] == 1))
            for d in docs]


def same_document_pairs(docs: Sequence[corpus.Document], size: int, seed: int) -> list[dict[str, object]]:
    """Up to ``size`` distinct pairs (an even number), exactly half ``same``, shuffled."""
    rng = random.Random(seed)
    docs = [d for d in unique_sentences(docs) if d.sentences]
    # Sentence A always comes from a document with two sentences or more, whatever the label,
    # so that the length of A's document says nothing about the label.
    anchors = [(d, i) for d, doc in enumerate(docs) if len(doc.sentences) >= 2 for i in range(len(doc.sentences))]
    if not anchors or len(docs) < 2:
        raise ValueError("same-document pairs need a document with two sentences and at least two documents")
    by_source: dict[str, list[int]] = collections.defaultdict(list)
    for d, doc in enumerate(docs):
        by_source[doc.source].append(d)
    order = {}
    for source in by_source:
        group = [a for a in anchors if docs[a[0]].source == source]
        rng.shuffle(group)
        order[source] = group
    ranked = sorted((rank, s, a) for s, group in enumerate(order.values()) for rank, a in enumerate(group))
    half = size // 2
    chosen: dict[int, list[dict[str, object]]] = {0: [], 1: []}
    seen: set[tuple[str, str]] = set()
    want_same = dict.fromkeys(by_source, True)  # alternate within each source: its labels stay balanced
    for _, _, (d, i) in ranked:
        if min(len(chosen[0]), len(chosen[1])) >= half:
            break
        doc = docs[d]
        if want_same[doc.source]:
            j = rng.choice([j for j in range(len(doc.sentences)) if j != i])
            b = doc.sentences[j]
        else:
            pool = by_source[doc.source] if len(by_source[doc.source]) > 1 else range(len(docs))
            b = rng.choice(docs[rng.choice([o for o in pool if o != d])].sentences)
        a, label = doc.sentences[i], int(want_same[doc.source])
        if (a, b) in seen or (b, a) in seen:
            continue
        seen.add((a, b))
        chosen[label].append({corpus.TEXT_A: a, corpus.TEXT_B: b, LABEL: label})
        want_same[doc.source] = not label
    count = min(half, len(chosen[0]), len(chosen[1]))
    examples = chosen[1][:count] + chosen[0][:count]
    rng.shuffle(examples)
    return examples


@dataclasses.dataclass(eq=False)
class PairsConfig(tfds.core.BuilderConfig):
    """Sources, pairs per split, held-out share (as the corpus') and seed."""

    sources: tuple[str, ...] = SOURCES
    train_pairs: int = TRAIN_PAIRS
    test_pairs: int = TEST_PAIRS
    test_percent: int = corpus.TEST_PERCENT
    seed: int = SEED


def splits(config: PairsConfig | None = None) -> dict[str, list[dict[str, object]]]:
    """``{"train": [...], "test": [...]}`` (deterministic, disjoint by document)."""
    config = config or CONFIGS[0]
    # Sentences unique across all documents: a test sentence occurs in no train document.
    docs = corpus.split_documents(unique_sentences(corpus.documents(config.sources)), config.test_percent)
    return {"train": same_document_pairs(docs["train"], config.train_pairs, config.seed),
            "test": same_document_pairs(docs["test"], config.test_pairs, config.seed + 1)}


CONFIGS = (PairsConfig(name="docs", description="pydoc topics + library docstrings: same document or not"),)


class ZooPairs(GeneratedBuilder, skip_registration=is_registered("zoo_pairs")):
    """Pairs of documentation sentences labelled by whether they share a document."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Same-document pairs of pydoc topics and docstrings."}
    BUILDER_CONFIGS: ClassVar[list[PairsConfig]] = list(CONFIGS)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict({
                corpus.TEXT_A: tfds.features.Text(),
                corpus.TEXT_B: tfds.features.Text(),
                LABEL: tfds.features.ClassLabel(names=list(LABELS)),
            }),
            supervised_keys=None,
        )

    def corpus(self) -> dict[str, list[dict[str, object]]]:
        return splits(self.builder_config)

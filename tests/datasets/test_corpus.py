"""The pretraining corpus (datasets/corpus.py): real text, NSP pairs, splits by document."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from datasets import corpus
from datasets import pairs as zoo_pairs
from models.features import wordpiece as contract


@pytest.fixture(scope="module")
def documents() -> dict[str, list[corpus.Document]]:
    return corpus.corpus_documents(corpus.CONFIGS[0])


@pytest.fixture(scope="module")
def pairs() -> dict[str, list[dict]]:
    return corpus.splits()


def test_feature_names_are_the_wordpiece_contract() -> None:
    assert (corpus.TEXT_A, corpus.TEXT_B, corpus.NEXT_SENTENCE) == (
        contract.TEXT_A, contract.TEXT_B, contract.NEXT_SENTENCE)


def test_sentences_are_prose_from_real_documentation() -> None:
    text = ("Heading\n*******\n\nThe value is computed first, i.e. before the call. Then it is\nreturned to the "
            "caller!\n\n   for i in range(10):\n       print(i)\n\n>>> 1 + 1\n2\n\nx : array_like\n    Input.\n")
    assert corpus.text_sentences(text) == ("The value is computed first, i.e. before the call.",
                                           "Then it is returned to the caller!")
    pydoc = {d.id: d for d in corpus.pydoc_documents()}
    assert len(pydoc) > 60
    assert "The expression list is evaluated once; it should yield an iterable object." in pydoc["pydoc:for"].sentences
    assert all(">>>" not in s and "::=" not in s for d in pydoc.values() for s in d.sentences)


def test_every_source_contributes_thousands_of_sentences(documents: dict) -> None:
    counts = collections.Counter(d.source for d in documents["train"] for _ in d.sentences)
    assert set(counts) == set(corpus.SOURCES)
    assert all(count > 1500 for count in counts.values()), counts


def test_pairs_are_balanced_and_sized(pairs: dict, documents: dict) -> None:
    assert {k: len(v) for k, v in pairs.items()} == {"train": corpus.TRAIN_PAIRS, "test": corpus.TEST_PAIRS}
    for split, examples in pairs.items():
        assert np.mean([p[corpus.NEXT_SENTENCE] for p in examples]) == 0.5
        # Within each source too (the label must not be readable from the kind of text).
        source_of = {s: d.source for d in documents[split] for s in d.sentences}
        by_source = collections.defaultdict(list)
        for p in examples:
            by_source[source_of[p[corpus.TEXT_A]]].append(p[corpus.NEXT_SENTENCE])
        assert set(by_source) == set(corpus.SOURCES)
        for source, labels in by_source.items():
            assert abs(np.mean(labels) - 0.5) < 0.1, (split, source, np.mean(labels), len(labels))
            assert len(labels) > 0.2 * len(examples)  # the sources take comparable shares


def test_is_next_pairs_are_consecutive_and_random_pairs_are_not(pairs: dict, documents: dict) -> None:
    for split, examples in pairs.items():
        consecutive = corpus.consecutive_pairs(documents[split])
        for p in examples:
            assert ((p[corpus.TEXT_A], p[corpus.TEXT_B]) in consecutive) == bool(p[corpus.NEXT_SENTENCE]), p
        doc_of = collections.defaultdict(set)
        for d in documents[split]:
            for s in d.sentences:
                doc_of[s].add(d.id)
        # B of a random pair comes from another document. Review fillers ("It runs about two hours.")
        # occur in many reviews, so check the documentation, where few sentences repeat.
        not_next = [p for p in examples if not p[corpus.NEXT_SENTENCE]
                    and not any(i.startswith("reviews:") for i in doc_of[p[corpus.TEXT_A]])]
        other_document = [not (doc_of[p[corpus.TEXT_A]] & doc_of[p[corpus.TEXT_B]]) for p in not_next]
        assert len(not_next) > 0.25 * len(examples) and np.mean(other_document) > 0.97


def test_splits_are_disjoint_by_document(pairs: dict, documents: dict) -> None:
    train_ids, test_ids = ({d.id for d in documents[s]} for s in ("train", "test"))
    assert train_ids and test_ids and not train_ids & test_ids
    assert all(corpus.in_test(i) for i in test_ids) and not any(corpus.in_test(i) for i in train_ids)
    train_sentences = {s for d in documents["train"] for s in d.sentences}
    held_out = {s for d in documents["test"] for s in d.sentences} - train_sentences
    train_text = {p[k] for p in pairs["train"] for k in (corpus.TEXT_A, corpus.TEXT_B)}
    test_text = [p[k] for p in pairs["test"] for k in (corpus.TEXT_A, corpus.TEXT_B)]
    assert not held_out & train_text
    # Documentation sentences are unique; a review's template sentences may repeat across reviews.
    assert np.mean([t in held_out for t in test_text]) > 0.6


def test_the_corpus_is_deterministic_and_the_seed_matters(pairs: dict) -> None:
    assert corpus.splits() == pairs
    reseeded = corpus.splits(dataclasses.replace(corpus.CONFIGS[0], seed=1))
    assert reseeded["train"] != pairs["train"]
    assert len(reseeded["train"]) == len(pairs["train"])


def _digest(splits: dict) -> str:
    return hashlib.sha256(json.dumps(splits, sort_keys=True).encode()).hexdigest()


def test_another_process_builds_the_same_corpus(pairs: dict) -> None:
    """A fresh interpreter (other string hashing, other modules imported) gives the same pairs."""
    script = ("import hashlib, json\nfrom datasets import corpus, pairs\n"
              "for s in (corpus.splits(), pairs.splits()):\n"
              "    print(hashlib.sha256(json.dumps(s, sort_keys=True).encode()).hexdigest())\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=600,
                            env={**os.environ, "PYTHONHASHSEED": "7"}, cwd=os.path.dirname(os.path.dirname(
                                os.path.dirname(os.path.abspath(__file__)))))
    assert result.stdout.split() == [_digest(pairs), _digest(zoo_pairs.splits())]


def test_bad_configs_fail_clearly() -> None:
    with pytest.raises(ValueError, match="unknown corpus sources"):
        corpus.documents(("wikipedia_offline",))
    with pytest.raises(ValueError, match="test_percent"):
        corpus.split_documents([], test_percent=0)
    one = [corpus.Document("a", "a", ("One sentence only.",))]
    with pytest.raises(ValueError, match="two sentences"):
        corpus.next_sentence_pairs(one, 10, 0)


def test_the_builder_prepares_offline(tmp_path: object) -> None:
    config = dataclasses.replace(corpus.CONFIGS[1], name="docs_small", train_pairs=200, test_pairs=40)
    builder = corpus.ZooCorpus(config=config, data_dir=str(tmp_path))
    builder.download_and_prepare()
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 200, "test": 40}
    rows = list(tfds.as_numpy(builder.as_dataset(split="train")))
    assert set(rows[0]) == {corpus.TEXT_A, corpus.TEXT_B, corpus.NEXT_SENTENCE}
    assert builder.info.features[corpus.NEXT_SENTENCE].names == ["NotNext", "IsNext"]
    assert sum(r[corpus.NEXT_SENTENCE] for r in rows) == 100
    expected = corpus.splits(config)["train"]
    # TFDS stores the examples in its own (hashed) order.
    assert sorted((r[corpus.TEXT_A].decode(), r[corpus.TEXT_B].decode(), r[corpus.NEXT_SENTENCE]) for r in rows) == \
        sorted((p[corpus.TEXT_A], p[corpus.TEXT_B], p[corpus.NEXT_SENTENCE]) for p in expected)
    assert [c.name for c in corpus.ZooCorpus.BUILDER_CONFIGS] == ["offline", "docs", "imdb_unsupervised"]
    # Registered with TFDS under its name, default config first (what a pipeline's DatasetConfig names).
    assert tfds.builder("zoo_corpus", data_dir=str(tmp_path)).builder_config.name == "offline"
    assert tfds.builder("zoo_corpus/docs", data_dir=str(tmp_path)).builder_config.sources == ("pydoc", "docstrings")


REVIEWS = [
    "I loved this film. The cast is strong and the script is sharp. It is a pleasure to watch.<br /><br />Go!",
    "A slow start. then it gets better. The ending surprised everyone in the room.",
    "Terrible sound. The picture was fine. My friends left early. We stayed until the end.",
    "One sentence only and no end",
    "Great fun for the whole family. The kids laughed. The dog barked at the screen.",
]


def test_the_real_tfds_path_with_mock_data() -> None:
    """imdb_reviews' unsupervised split as documents, through tfds.load (mocked: no downloads here)."""
    def as_dataset(self: object, split: str, *args: object, **kwargs: object) -> tf.data.Dataset:
        assert split == "unsupervised"
        return tf.data.Dataset.from_tensor_slices({"text": REVIEWS * 20, "label": [-1] * 100})

    config = dataclasses.replace(corpus.CONFIGS[2], train_pairs=40, test_pairs=10, tfds_max_documents=60)
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        docs = corpus.tfds_documents(config.tfds_name, config.tfds_split, max_documents=60)
        examples = corpus.splits(config)
    assert len(docs) == 48 and docs[0].source == "imdb_reviews/plain_text"  # one review in 5 has no sentence
    # "<br />" breaks a paragraph; "Go!" is too short to count as a sentence.
    assert docs[0].sentences == ("I loved this film.", "The cast is strong and the script is sharp.",
                                 "It is a pleasure to watch.")
    assert docs[1].sentences[1] == "then it gets better."
    assert all(len(d.sentences) >= 1 for d in docs)
    split_docs = corpus.split_documents(docs, config.test_percent)
    for split, size in (("train", 40), ("test", 10)):
        assert len(examples[split]) <= size and np.mean([p[corpus.NEXT_SENTENCE] for p in examples[split]]) == 0.5
        consecutive = corpus.consecutive_pairs(split_docs[split])
        assert all(((p[corpus.TEXT_A], p[corpus.TEXT_B]) in consecutive) == bool(p[corpus.NEXT_SENTENCE])
                   for p in examples[split])


@pytest.fixture(scope="module")
def pair_splits() -> dict[str, list[dict]]:
    return zoo_pairs.splits()


def test_pair_labels_are_exact(pair_splits: dict) -> None:
    assert zoo_pairs.LABEL == contract.LABEL
    docs = corpus.split_documents(corpus.documents(zoo_pairs.SOURCES))
    for split, size in (("train", zoo_pairs.TRAIN_PAIRS), ("test", zoo_pairs.TEST_PAIRS)):
        examples = pair_splits[split]
        assert len(examples) == size and np.mean([e[zoo_pairs.LABEL] for e in examples]) == 0.5
        doc_of = collections.defaultdict(set)
        source_of = {}
        for d in docs[split]:
            for s in d.sentences:
                doc_of[s].add(d.id)
                source_of[s] = d.source
        for e in examples:
            a, b = e[corpus.TEXT_A], e[corpus.TEXT_B]
            assert len(doc_of[a]) == 1 and len(doc_of[b]) == 1 and a != b  # unambiguous sentences only
            assert (doc_of[a] == doc_of[b]) == bool(e[zoo_pairs.LABEL]), e
            assert source_of[a] == source_of[b]
        assert len({(e[corpus.TEXT_A], e[corpus.TEXT_B]) for e in examples}) == len(examples)
        by_source = collections.defaultdict(list)
        for e in examples:
            by_source[source_of[e[corpus.TEXT_A]]].append(e[zoo_pairs.LABEL])
        assert set(by_source) == set(zoo_pairs.SOURCES)
        assert all(abs(np.mean(labels) - 0.5) < 0.1 for labels in by_source.values())


def test_pair_test_text_is_unseen_in_pretraining(pair_splits: dict, pairs: dict) -> None:
    pretraining_text = {p[k] for p in pairs["train"] for k in (corpus.TEXT_A, corpus.TEXT_B)}
    test_text = {e[k] for e in pair_splits["test"] for k in (corpus.TEXT_A, corpus.TEXT_B)}
    assert not test_text & pretraining_text
    assert zoo_pairs.splits() == pair_splits  # deterministic


def test_the_pairs_builder_prepares_offline(tmp_path: object) -> None:
    config = dataclasses.replace(zoo_pairs.CONFIGS[0], name="docs_small", train_pairs=100, test_pairs=20)
    builder = zoo_pairs.ZooPairs(config=config, data_dir=str(tmp_path))
    builder.download_and_prepare()
    assert {k: v.num_examples for k, v in builder.info.splits.items()} == {"train": 100, "test": 20}
    assert builder.info.features[zoo_pairs.LABEL].names == ["different", "same"]
    assert tfds.builder("zoo_pairs", data_dir=str(tmp_path)).builder_config.name == "docs"
    rows = list(tfds.as_numpy(builder.as_dataset(split="test")))
    assert sorted((r[corpus.TEXT_A].decode(), r[zoo_pairs.LABEL]) for r in rows) == \
        sorted((e[corpus.TEXT_A], e[zoo_pairs.LABEL]) for e in zoo_pairs.splits(config)["test"])


def test_an_unprepared_real_dataset_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(ValueError, match="is not prepared in .*tfds build imdb_reviews/plain_text"):
        corpus.tfds_documents("imdb_reviews/plain_text", "unsupervised", data_dir=str(tmp_path))

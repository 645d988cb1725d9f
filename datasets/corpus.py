"""Pretraining corpus for the BERT-style encoder: next-sentence pairs of real English text.

The text is written by others and ships with the stack, so it exists offline on
every machine that has the project installed:

- ``pydoc``: the Python reference-manual topics bundled with Python itself
  (``pydoc_data.topics.topics``; one document per topic);
- ``docstrings``: docstrings of installed libraries, numpy and part of the
  standard library (:data:`DOCSTRING_MODULES`; one document per module,
  public function or public class, read in a fresh interpreter so that no
  library imported before can change them);
- ``reviews``: the unlabelled text of ``zoo_reviews``' *train* split (one
  document per review; never its test split, which the fine-tuning stage
  evaluates on).

Prose only: paragraphs with indented lines (code, grammar productions,
parameter lists), doctest prompts or table rules are dropped, headings too;
paragraphs are split into sentences (``.``/``!``/``?`` then a capital letter,
not after abbreviations such as "e.g.") and sentences of
:data:`MIN_WORDS`..:data:`MAX_WORDS` words with mostly letters are kept.
The text depends only on the pinned stack (the Python and numpy versions),
so the corpus is the same on every machine with the stack installed.

Splits are by *document*: a document's id hashes to ``test`` with
probability ``test_percent``/100, so no held-out document is seen in
pretraining (the same documents are held out by ``zoo_pairs``, built from
the same documents). Each split has ``text_a``, ``text_b`` and
``next_sentence`` (1 = ``text_b`` is the sentence that follows ``text_a`` in
its document, 0 = ``text_b`` is a sentence of another document of the same
source, never one that follows ``text_a`` anywhere in the split): exactly
half the pairs of a split are IsNext, drawn from a seeded generator, so the
corpus is deterministic.

The builder ``zoo_corpus`` has configs (:class:`CorpusConfig`; sizes, sources
and seed are fields, so a bigger corpus is one more config):

- ``offline`` (default): pydoc + docstrings + reviews, 4000/500 pairs;
- ``docs``: pydoc + docstrings only;
- ``imdb_unsupervised``: the real path, the same pairs from a TFDS text
  dataset (``imdb_reviews/plain_text``'s ``unsupervised`` split, one document
  per review), prepared in the same ``data_dir`` where TFDS can download it
  (``tfds build imdb_reviews/plain_text``); :func:`tfds_documents` reads any
  TFDS text dataset (e.g. ``wikipedia/20230601.en``, key ``text``) as
  documents.

>>> sentences("See the manual, e.g. chapter 3. It is short! And this is not a sentence")
['See the manual, e.g. chapter 3.', 'It is short!']
>>> docs = [Document("a:1", "a", ("One two three.", "Four five six.", "Seven eight nine.")),
...         Document("a:2", "a", ("Ten eleven twelve.", "Thirteen fourteen fifteen."))]
>>> pairs = next_sentence_pairs(docs, size=2, seed=0)
>>> sorted(p["next_sentence"] for p in pairs)
[0, 1]
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

import tensorflow_datasets as tfds

from datasets import is_registered
from datasets.generated import GeneratedBuilder

# Raw feature names: those of models/features/wordpiece.py, the Transform's defaults (written out
# here because this package must not import models/, which imports Keras; a test checks they match).
TEXT_A, TEXT_B, NEXT_SENTENCE = "text_a", "text_b", "next_sentence"
SOURCES = ("pydoc", "docstrings", "reviews")
# Modules whose public names are the same on every platform and in every process (no OS- or
# build-dependent functions such as os, signal, socket, time or hashlib; no lazy module attributes
# such as concurrent.futures'), so the documents depend only on the pinned Python and numpy.
DOCSTRING_MODULES = (
    "numpy", "numpy.linalg", "numpy.fft", "numpy.random", "numpy.ma", "numpy.polynomial.polynomial",
    "abc", "argparse", "array", "ast", "asyncio.tasks", "base64", "bisect", "calendar", "cmath", "codecs",
    "collections", "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib",
    "enum", "fnmatch", "fractions", "functools", "gettext", "glob", "gzip", "heapq", "html.parser",
    "http.client", "inspect", "io", "ipaddress", "itertools", "json", "logging", "math", "mimetypes",
    "operator", "pathlib", "pickle", "pprint", "queue", "random", "re", "sched", "secrets", "shelve", "shlex",
    "statistics", "string", "struct", "tarfile", "tempfile", "textwrap", "threading", "timeit", "tokenize",
    "traceback", "types", "typing", "unittest.case", "urllib.parse", "urllib.request", "uuid", "warnings",
    "weakref", "xml.dom.minidom", "zipfile",
)
MIN_WORDS, MAX_WORDS = 3, 64
MIN_LETTER_SHARE = 0.6  # letters among a sentence's non-space characters
TRAIN_PAIRS, TEST_PAIRS, TEST_PERCENT, SEED = 4000, 500, 10, 20240620

# Words ending with a dot that end no sentence.
ABBREVIATIONS = frozenset({"e.g.", "i.e.", "etc.", "cf.", "vs.", "mr.", "mrs.", "dr.", "no.", "st.", "approx.",
                           "resp.", "ca.", "al.", "fig.", "sec.", "eq.", "vol.", "ed.", "see."})
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z])")
_ANY_CASE_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_HEADING_RULE = re.compile(r"^\s*([-=*~^+#_])\1{2,}\s*$")


@dataclasses.dataclass(frozen=True)
class Document:
    """A run of consecutive sentences; ``id`` is unique and decides the split."""

    id: str
    source: str
    sentences: tuple[str, ...]


def _is_sentence(text: str, any_case: bool = False) -> bool:
    words = text.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS or text[-1] not in ".!?" or not (any_case or text[0].isupper()):
        return False
    chars = [c for c in text if not c.isspace()]
    return sum(c.isalpha() for c in chars) >= MIN_LETTER_SHARE * len(chars)


def _prose_paragraphs(text: str) -> list[str]:
    """Paragraphs of running text, each joined into one line; code, tables and headings dropped."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        indent = len(lines[0]) - len(lines[0].lstrip())
        if any(len(line) - len(line.lstrip()) != indent for line in lines) or indent >= 4:
            continue  # code, grammar, a parameter list, or a nested block
        if any(">>>" in line or "::=" in line or _HEADING_RULE.match(line) or "|" in line for line in lines):
            continue
        paragraphs.append(" ".join(" ".join(lines).split()))
    return paragraphs


def sentences(paragraph: str, any_case: bool = False) -> list[str]:
    """The sentences of one paragraph that pass the prose filter (see the module docstring);
    ``any_case``: a sentence may start with a lower-case letter (informal text such as reviews)."""
    pieces, current = [], ""
    for piece in (_ANY_CASE_SENTENCE_END if any_case else _SENTENCE_END).split(paragraph.strip()):
        current = f"{current} {piece}" if current else piece
        last = current.split()[-1].lower() if current.split() else ""
        if last in ABBREVIATIONS or re.fullmatch(r"[a-z]\.", last):
            continue  # "e.g." or an initial: the sentence goes on
        pieces.append(current)
        current = ""
    if current:
        pieces.append(current)
    return [s for s in (" ".join(p.split()) for p in pieces) if s and _is_sentence(s, any_case)]


def text_sentences(text: str, any_case: bool = False) -> tuple[str, ...]:
    """All sentences of a text, in order."""
    return tuple(s for paragraph in _prose_paragraphs(text) for s in sentences(paragraph, any_case))


def pydoc_documents() -> list[Document]:
    """One document per topic of the Python reference manual that ships with Python."""
    from pydoc_data.topics import topics

    return [Document(f"pydoc:{name}", "pydoc", text_sentences(topics[name])) for name in sorted(topics)]


# Run in a fresh interpreter by docstring_documents: the docstrings of the modules named in argv as
# JSON [[name, docstring], ...]. Fresh, because libraries patch the standard library when they are
# imported (one replaces inspect.isgenerator with an undocumented wrapper), so what a live process
# sees would depend on what it imported before. Public members defined in the module itself (or in
# a submodule, or its C accelerator: heapq.heappush is _heapq's) count; re-exports do not. numpy's
# ufuncs and bound builtins have no __module__ and count.
_COLLECT_DOCSTRINGS = """
import importlib, inspect, json, sys
out = []
for module_name in sys.argv[1:]:
    module = importlib.import_module(module_name)
    short = module_name.rsplit(".", 1)[-1]
    out.append([module_name, module.__doc__ or ""])
    for name in sorted(vars(module)):
        member = getattr(module, name)
        if name.startswith("_") or inspect.ismodule(member) or not isinstance(member.__doc__, str):
            continue
        defined = getattr(member, "__module__", None)
        if not (inspect.isclass(member) or callable(member)):
            continue
        if defined is None or defined in (module_name, "_" + short) or defined.startswith(module_name + "."):
            out.append([module_name + "." + name, member.__doc__])
json.dump(out, sys.stdout)
"""


def docstring_documents(modules: Sequence[str] = DOCSTRING_MODULES) -> list[Document]:
    """One document per module, public function and public class docstring of ``modules``
    (a docstring seen before, e.g. an alias, counts once), read in a fresh interpreter."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run([sys.executable, "-c", _COLLECT_DOCSTRINGS, *modules], capture_output=True, text=True,
                            env=env, check=False, timeout=600)
    if result.returncode:
        raise RuntimeError(f"reading the docstrings of {list(modules)} failed: {result.stderr[-2000:]}")
    documents, seen = [], set()
    for name, doc in json.loads(result.stdout):
        doc = inspect.cleandoc(doc)
        if doc and doc not in seen:
            seen.add(doc)
            documents.append(Document(f"docstrings:{name}", "docstrings", text_sentences(doc)))
    return documents


def review_documents() -> list[Document]:
    """One document per review of ``zoo_reviews``' train split (its text only, no label)."""
    from datasets import reviews

    return [Document(f"reviews:{i}", "reviews", text_sentences(e["text"], any_case=True))
            for i, e in enumerate(reviews.splits()["train"])]


def tfds_documents(name: str, split: str, text_key: str = "text", max_documents: int | None = None,
                   data_dir: str | None = None, download: bool = False) -> list[Document]:
    """Documents from a real TFDS text dataset (``imdb_reviews/plain_text``, ``wikipedia/...``):
    one per example with a sentence, from the first ``max_documents`` of ``split``.

    Without ``download`` the dataset must be prepared in ``data_dir`` already (as the
    project's example gen requires of remote datasets when downloads are off).
    """
    try:
        dataset = tfds.load(name, split=split, data_dir=data_dir, download=download)
    except AssertionError as error:  # TFDS' "could not find data in ..."
        raise ValueError(f"TFDS dataset {name!r} is not prepared in {data_dir or 'the default data_dir'}: run "
                         f"`tfds build {name}` there where the network is reachable ({error})") from error
    if max_documents:
        dataset = dataset.take(max_documents)
    documents = []
    for i, example in enumerate(tfds.as_numpy(dataset)):
        if text_key not in example:
            raise ValueError(f"{name} has no text feature '{text_key}'; features: {sorted(example)}")
        text = example[text_key].decode("utf-8", errors="replace").replace("<br />", "\n\n")
        documents.append(Document(f"{name}:{split}:{i}", name, text_sentences(text, any_case=True)))
    return [d for d in documents if d.sentences]


def documents(sources: Sequence[str] = SOURCES) -> list[Document]:
    """The offline documents of ``sources`` with at least one sentence, in a fixed order."""
    readers: dict[str, Callable[[], list[Document]]] = {
        "pydoc": pydoc_documents, "docstrings": docstring_documents, "reviews": review_documents}
    unknown = set(sources) - set(readers)
    if unknown:
        raise ValueError(f"unknown corpus sources {sorted(unknown)}; choose from {list(readers)}")
    return [d for source in sources for d in readers[source]() if d.sentences]


def in_test(document_id: str, test_percent: int = TEST_PERCENT) -> bool:
    """Whether a document belongs to the held-out split (a stable hash of its id)."""
    digest = hashlib.sha256(document_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < test_percent


def split_documents(docs: Iterable[Document], test_percent: int = TEST_PERCENT) -> dict[str, list[Document]]:
    """``{"train": [...], "test": [...]}``, disjoint by document id."""
    if not 0 < test_percent < 100:
        raise ValueError(f"test_percent must be between 1 and 99, got {test_percent}")
    out: dict[str, list[Document]] = {"train": [], "test": []}
    for doc in docs:
        out["test" if in_test(doc.id, test_percent) else "train"].append(doc)
    return out


def consecutive_pairs(docs: Iterable[Document]) -> set[tuple[str, str]]:
    """Every ``(sentence, next sentence)`` of ``docs``."""
    return {(a, b) for d in docs for a, b in zip(d.sentences, d.sentences[1:])}


def _interleaved_by_source(docs: Sequence[Document], positions: list[tuple[int, int]],
                           rng: random.Random) -> list[tuple[int, int]]:
    """``positions`` shuffled within each source, then taken from the sources in turn, so that
    a sample of any size has every source in the same share while it lasts."""
    by_source: dict[str, list[tuple[int, int]]] = {}
    for position in positions:
        by_source.setdefault(docs[position[0]].source, []).append(position)
    for group in by_source.values():
        rng.shuffle(group)
    ranked = [(rank, s, p) for s, group in enumerate(by_source.values()) for rank, p in enumerate(group)]
    return [p for _, _, p in sorted(ranked)]


def next_sentence_pairs(docs: Sequence[Document], size: int, seed: int) -> list[dict[str, object]]:
    """``size`` (or as many as the documents hold) NSP pairs, exactly half IsNext, shuffled;
    the sources of ``docs`` take equal shares while they last.

    IsNext: a sentence and the one after it in its document. NotNext: a sentence
    and a random sentence of another document of the same source (of any other
    document if its source has one), never a pair that is consecutive anywhere
    in ``docs``.
    """
    rng = random.Random(seed)
    docs = [doc for doc in docs if doc.sentences]
    positions = [(d, i) for d, doc in enumerate(docs) for i in range(len(doc.sentences) - 1)]
    if not positions:
        raise ValueError("no document has two sentences: cannot make next-sentence pairs")
    if len(docs) < 2:
        raise ValueError("random (NotNext) pairs need at least two documents")
    positions = _interleaved_by_source(docs, positions, rng)
    count = min(size, len(positions))
    positions = positions[:count - count % 2]
    by_source: dict[str, list[int]] = {}
    for d, doc in enumerate(docs):
        by_source.setdefault(doc.source, []).append(d)
    consecutive = consecutive_pairs(docs)
    is_next = [k % 2 == 0 for k in range(len(positions))]
    rng.shuffle(is_next)  # exactly half, independent of the source
    pairs = []
    for (d, i), label in zip(positions, is_next):
        a = docs[d].sentences[i]
        if label:
            pairs.append({TEXT_A: a, TEXT_B: docs[d].sentences[i + 1], NEXT_SENTENCE: 1})
            continue
        pool = by_source[docs[d].source] if len(by_source[docs[d].source]) > 1 else range(len(docs))
        for _ in range(1000):
            other = rng.choice(pool)
            b = rng.choice(docs[other].sentences)
            if other != d and (a, b) not in consecutive:
                break
        else:
            raise ValueError(f"found no random sentence for a NotNext pair with {a!r}")
        pairs.append({TEXT_A: a, TEXT_B: b, NEXT_SENTENCE: 0})
    rng.shuffle(pairs)
    return pairs


@dataclasses.dataclass(eq=False)
class CorpusConfig(tfds.core.BuilderConfig):
    """Which documents, how many pairs per split, the held-out share and the seed.

    ``tfds_name`` set: the documents come from that TFDS dataset's ``tfds_split``
    (feature ``tfds_text_key``, at most ``tfds_max_documents``) instead of ``sources``,
    prepared beforehand in the same ``data_dir`` unless ``tfds_download``.
    """

    sources: tuple[str, ...] = SOURCES
    train_pairs: int = TRAIN_PAIRS
    test_pairs: int = TEST_PAIRS
    test_percent: int = TEST_PERCENT
    seed: int = SEED
    tfds_name: str | None = None
    tfds_split: str = "train"
    tfds_text_key: str = "text"
    tfds_max_documents: int | None = 20000
    tfds_download: bool = False


def corpus_documents(config: CorpusConfig, data_dir: str | None = None) -> dict[str, list[Document]]:
    """The config's documents, split into train and test."""
    if config.tfds_name:
        docs = tfds_documents(config.tfds_name, config.tfds_split, config.tfds_text_key,
                              config.tfds_max_documents, data_dir, config.tfds_download)
    else:
        docs = documents(config.sources)
    return split_documents(docs, config.test_percent)


def splits(config: CorpusConfig | None = None, data_dir: str | None = None) -> dict[str, list[dict[str, object]]]:
    """The corpus: ``{"train": [...], "test": [...]}`` NSP pairs (deterministic, disjoint by document)."""
    config = config or CONFIGS[0]
    docs = corpus_documents(config, data_dir)
    return {"train": next_sentence_pairs(docs["train"], config.train_pairs, config.seed),
            "test": next_sentence_pairs(docs["test"], config.test_pairs, config.seed + 1)}


CONFIGS = (
    CorpusConfig(name="offline", description="pydoc topics + library docstrings + zoo_reviews train text"),
    CorpusConfig(name="docs", description="pydoc topics + library docstrings", sources=("pydoc", "docstrings")),
    CorpusConfig(name="imdb_unsupervised", description="imdb_reviews/plain_text unsupervised split (download)",
                 tfds_name="imdb_reviews/plain_text", tfds_split="unsupervised", train_pairs=20000,
                 test_pairs=2000),
)


class ZooCorpus(GeneratedBuilder, skip_registration=is_registered("zoo_corpus")):
    """Next-sentence pairs of real English text for pretraining the BERT-style encoder."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "pydoc topics, docstrings, reviews text; NSP pairs."}
    BUILDER_CONFIGS: ClassVar[list[CorpusConfig]] = list(CONFIGS)

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict({
                TEXT_A: tfds.features.Text(),
                TEXT_B: tfds.features.Text(),
                NEXT_SENTENCE: tfds.features.ClassLabel(names=["NotNext", "IsNext"]),
            }),
        )

    def corpus(self) -> dict[str, list[dict[str, object]]]:
        # A real TFDS source is read from (or downloaded into) this builder's data_dir.
        return splits(self.builder_config, data_dir=str(self.data_dir_root))

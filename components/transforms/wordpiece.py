"""Transform for the BERT-style encoder: raw strings through, WordPiece vocabulary learned.

``custom_config`` (all optional)::

    {"text_keys": ["text_a", "text_b"],   # default: those of text_a, text_b, text in the data
     "label_key": "next_sentence",        # default: next_sentence when learning, else label
     "learn_vocabulary": False,           # True in the pretraining stage
     "vocab_size": 8000, "lowercase": True, "strip_accents": False,
     "learn_params": {"lower_thresh": 10}}  # more arguments of the WordPiece learner

Outputs every text feature as a dense string of shape ``[]`` (the tokenizer
lives in the model, so each exported signature takes raw strings) and the
label, when the data has one, as int64. Text is passed through unchanged
except that invalid UTF-8 bytes become U+FFFD, so that neither the learner nor
a served model's tokenizer ever sees bytes it cannot decode.

With ``learn_vocabulary`` the Transform also *learns* a WordPiece vocabulary
from all text features of the analysed split: a TFT analyzer
(:func:`wordpiece_vocabulary`, a ``tft.experimental.ptransform_analyzer``)
counts the words in Beam, split exactly as keras-hub's ``WordPieceTokenizer``
splits them (``pretokenize`` with the same ``lowercase``/``strip_accents``),
then runs tensorflow-text's WordPiece learner (what
``keras_hub.tokenizers.compute_word_piece_vocabulary`` runs) once on the
counts, sorted, so the same data gives the same vocabulary. The vocabulary is
written as the Transform asset :data:`~models.features.wordpiece.VOCAB`
(``assets/wordpiece`` of the transform graph; ``TFTransformOutput.
vocabulary_file_by_name("wordpiece")`` finds it; the trainer hands it to the
family as ``DataSpec.extras["vocab_files"]["wordpiece"]``): one token per
line, :data:`~models.features.wordpiece.RESERVED_TOKENS` first, then every
character seen and its ``##`` suffix form, then learned pieces by count, at
most ``vocab_size`` lines. A tokenizer built from it must use the same
``lowercase`` and ``strip_accents`` (defaults :data:`LOWERCASE`,
:data:`STRIP_ACCENTS`).

>>> import tensorflow as tf
>>> out = preprocessing_fn({"text": tf.constant([b"ok", b"\\xff"]), "label": tf.constant([[1], [0]])})
>>> out["text"].numpy().tolist(), out["label"].numpy().tolist()
([b'ok', b'\\xef\\xbf\\xbd'], [1, 0])
"""

from __future__ import annotations

import collections
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam

from components.transforms.text import dense_column
from models.features import wordpiece as contract

VOCAB_SIZE, LOWERCASE, STRIP_ACCENTS = 8000, True, False
JOINER = "##"  # the suffix indicator of keras-hub's WordPieceTokenizer
# "code_fingerprint" is the pipeline factory's, for TFX's cache key only.
CONFIG_KEYS = frozenset({"text_keys", "label_key", "learn_vocabulary", "vocab_size", "lowercase", "strip_accents",
                         "learn_params", "code_fingerprint"})


def load_vocabulary(path: str) -> list[str]:
    """The tokens of a vocabulary file, one per line, in order (ids are line numbers).

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
    ...     _ = f.write("[PAD]\\n[CLS]\\ncaf\\u00e9\\n")
    >>> load_vocabulary(f.name)
    ['[PAD]', '[CLS]', 'café']
    """
    with tf.io.gfile.GFile(path, "rb") as f:
        lines = f.read().decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def pretokenize(texts: Iterable[bytes | str], lowercase: bool = LOWERCASE,
                strip_accents: bool = STRIP_ACCENTS) -> list[str]:
    """The words of ``texts`` as keras-hub's ``WordPieceTokenizer`` splits them before WordPiece."""
    from keras_hub.src.tokenizers.word_piece_tokenizer import pretokenize as keras_hub_pretokenize

    texts = list(texts)
    if not texts:
        return []
    words = keras_hub_pretokenize(tf.constant(texts, tf.string), lowercase, strip_accents, True, True)
    return [w.decode("utf-8") for w in words.flat_values.numpy().tolist()]


def learn_vocabulary(word_counts: Iterable[tuple[str, int]], vocab_size: int = VOCAB_SIZE,
                     reserved_tokens: Sequence[str] = contract.RESERVED_TOKENS,
                     learn_params: Mapping[str, Any] | None = None) -> list[str]:
    """tensorflow-text's WordPiece learner on ``(word, count)`` pairs, as keras-hub's
    ``compute_word_piece_vocabulary`` calls it; counts are sorted first (determinism)."""
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as learner

    counts = sorted((str(w), int(c)) for w, c in word_counts if w)
    if not counts:
        return list(reserved_tokens)
    vocab = learner.learn(counts, vocab_size=vocab_size, reserved_tokens=list(reserved_tokens),
                          include_joiner_token=True, joiner=JOINER, **dict(learn_params or {}))
    return vocab[:vocab_size]


class LearnWordPiece(tft_beam.experimental.PTransformAnalyzer):
    """Beam side of the analyzer: batches of text columns -> the path of the vocabulary file.

    Words are counted in parallel (per batch, then ``CombinePerKey``); the learner then runs
    once on all counts and writes ``<unique temp dir>/wordpiece``, which TFT
    copies into the transform graph's ``assets/`` under that name.
    """

    def __init__(self, vocab_size: int, lowercase: bool, strip_accents: bool, learn_params: Mapping[str, Any]):
        super().__init__()
        self._vocab_size = vocab_size
        self._lowercase = lowercase
        self._strip_accents = strip_accents
        self._learn_params = dict(learn_params)

    def _word_counts(self, batch: Sequence[np.ndarray]) -> Iterator[tuple[str, int]]:
        counts: collections.Counter[str] = collections.Counter()
        for column in batch:
            counts.update(pretokenize(np.asarray(column).reshape(-1).tolist(), self._lowercase, self._strip_accents))
        yield from counts.items()

    def _write(self, counts: list[tuple[str, int]]) -> np.ndarray:
        vocab = learn_vocabulary(counts, self._vocab_size, contract.RESERVED_TOKENS, self._learn_params)
        tf.io.gfile.makedirs(self.base_temp_dir)
        path = os.path.join(self.base_temp_dir, contract.VOCAB)
        with tf.io.gfile.GFile(path, "wb") as f:
            f.write("".join(f"{token}\n" for token in vocab).encode("utf-8"))
        return np.array(path.encode("utf-8"), dtype=object)

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        return (pcoll
                | "CountInBatch" >> beam.FlatMap(self._word_counts)
                | "Count" >> beam.CombinePerKey(sum)
                | "Gather" >> beam.combiners.ToList()
                | "LearnAndWrite" >> beam.Map(self._write))


def wordpiece_vocabulary(texts: Sequence[tf.Tensor], vocab_size: int = VOCAB_SIZE, lowercase: bool = LOWERCASE,
                         strip_accents: bool = STRIP_ACCENTS,
                         learn_params: Mapping[str, Any] | None = None) -> tf.Tensor:
    """TFT analyzer: learns a WordPiece vocabulary from the ``(batch,)`` string tensors ``texts``
    over the whole analysed dataset and records it as the asset ``wordpiece``; returns its path."""
    path = tft.experimental.ptransform_analyzer(
        inputs=list(texts),
        ptransform=LearnWordPiece(vocab_size, lowercase, strip_accents, learn_params or {}),
        output_dtypes=[tf.string], output_shapes=[[]],
        output_asset_default_values=["".join(f"{t}\n" for t in contract.RESERVED_TOKENS).encode("utf-8")],
        name="learn_wordpiece")[0]
    tft.annotate_asset(contract.VOCAB, contract.VOCAB)
    return path


def _check_config(config: Mapping[str, Any]) -> None:
    unknown = set(config) - CONFIG_KEYS
    if unknown:
        raise ValueError(f"unknown wordpiece transform settings {sorted(unknown)}; known: {sorted(CONFIG_KEYS)}")
    size = config.get("vocab_size", VOCAB_SIZE)
    if not isinstance(size, int) or isinstance(size, bool) or size <= len(contract.RESERVED_TOKENS):
        raise ValueError(f"vocab_size must be an integer above {len(contract.RESERVED_TOKENS)}, got {size!r}")
    for key in ("lowercase", "strip_accents", "learn_vocabulary"):
        if not isinstance(config.get(key, False), bool):
            raise ValueError(f"{key} must be true or false, got {config[key]!r}")
    if not isinstance(config.get("learn_params", {}), Mapping):
        raise ValueError(f"learn_params must be a mapping, got {config['learn_params']!r}")


def clean_text(x: Any) -> tf.Tensor:
    """A raw text feature as dense ``(batch,)`` valid UTF-8 (invalid bytes become U+FFFD)."""
    return tf.strings.unicode_transcode(dense_column(x, ""), "UTF-8", "UTF-8", errors="replace",
                                        replacement_char=0xFFFD)


def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Mapping[str, Any] | None = None) -> dict[str, tf.Tensor]:
    config = dict(custom_config or {})
    _check_config(config)
    learn = config.get("learn_vocabulary", False)
    text_keys = list(config.get("text_keys") or
                     [k for k in (contract.TEXT_A, contract.TEXT_B, contract.TEXT) if k in inputs])
    missing = [k for k in text_keys if k not in inputs]
    if missing or not text_keys:
        raise ValueError(f"no text feature {missing or [contract.TEXT_A, contract.TEXT_B, contract.TEXT]} in the "
                         f"raw data; features: {sorted(inputs)}")
    label_key = config.get("label_key", contract.NEXT_SENTENCE if learn else contract.LABEL)
    outputs = {key: clean_text(inputs[key]) for key in text_keys}
    if learn:
        wordpiece_vocabulary([outputs[k] for k in text_keys], config.get("vocab_size", VOCAB_SIZE),
                             config.get("lowercase", LOWERCASE), config.get("strip_accents", STRIP_ACCENTS),
                             config.get("learn_params"))
    if label_key in inputs:
        outputs[label_key] = tf.cast(dense_column(inputs[label_key], -1), tf.int64)
    return outputs

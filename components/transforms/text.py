"""Transform for text classification: raw strings to fixed-length token ids.

``custom_config`` (all optional)::

    {"text_key": "text", "label_key": "label", "max_length": 128,
     "tokenizer": "word",            # or "char"
     "top_k": 20000, "frequency_threshold": 1, "vocab_name": "text"}

Outputs ``<text_key>_ids`` (int64, ``(max_length,)``, 0 = padding) and the
label as int64. Everything runs in TensorFlow ops (``tf.strings``), so the
served model takes raw strings and no Python tokenizer runs at serving time.

Tokenisation: invalid UTF-8 bytes become U+FFFD, text is lower-cased
(Unicode), punctuation and symbols are split off as tokens, whitespace
separates words (``"char"``: every character is a token, a space is
``SPACE_MARKER``). Ids come from ``tft.compute_and_apply_vocabulary`` with
``RESERVED_TOKENS`` at the start of the vocabulary file, so
``<pad>`` = 0, ``<s>`` = 1, ``</s>`` = 2 and ``<unk>`` = 3 (unknown words).
Names, reserved tokens and ids are the contract in :mod:`models.features.text`,
which the text families read too.
Texts longer than ``max_length`` tokens keep their first ``max_length``;
an empty text becomes the single token ``<unk>`` (never an all-padding row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from models.features import text as contract
from models.features.text import END_ID, PAD_ID, RESERVED_TOKENS, SPACE_MARKER, START_ID, UNK_ID

TOKENIZERS = ("word", "char")
# Bytes kept from a raw text per token of max_length, before tokenising (bounds the work).
BYTES_PER_TOKEN = 32


def dense_column(x: Any, default: Any) -> tf.Tensor:
    """A raw feature as a dense ``(batch,)`` tensor: sparse/ragged ones take their first value."""
    if isinstance(x, tf.SparseTensor):
        x = tf.sparse.to_dense(tf.SparseTensor(x.indices, x.values, [x.dense_shape[0], 1]), default)
    elif isinstance(x, tf.RaggedTensor):
        x = x[:, :1].to_tensor(default_value=default, shape=[None, 1])
    if x.shape.rank == 2:
        x = x[:, 0] if x.shape[1] == 1 else tf.reshape(x, [-1])
    return x


def normalize(text: tf.Tensor, max_bytes: int | None = None) -> tf.Tensor:
    """Valid, lower-cased UTF-8 with single spaces; invalid bytes become U+FFFD."""
    if max_bytes:
        text = tf.strings.substr(text, 0, max_bytes, unit="BYTE")
    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace",
                                        replacement_char=0xFFFD)
    text = tf.strings.lower(text, encoding="utf-8")
    return tf.strings.strip(tf.strings.regex_replace(text, r"\s+", " "))


def tokenize(text: tf.Tensor, tokenizer: str = "word", max_bytes: int | None = None) -> tf.RaggedTensor:
    """``(batch,)`` raw strings -> ragged ``(batch, None)`` tokens."""
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"tokenizer must be one of {list(TOKENIZERS)}, got {tokenizer!r}")
    text = normalize(text, max_bytes)
    if tokenizer == "char":
        text = tf.strings.regex_replace(text, " ", SPACE_MARKER)
        return tf.strings.unicode_split(text, "UTF-8")
    text = tf.strings.regex_replace(text, r"([\pP\pS])", r" \1 ")
    return tf.strings.split(text)


def _pad(ids: tf.RaggedTensor, length: int) -> tf.Tensor:
    return tf.cast(ids.to_tensor(default_value=PAD_ID, shape=[None, length]), tf.int64)


def token_ids(text: tf.Tensor, *, max_length: int, vocab_name: str, tokenizer: str = "word",
              top_k: int | None = None, frequency_threshold: int | None = None,
              add_start_end: bool = False) -> tf.Tensor:
    """Raw strings -> ``(batch, max_length)`` int64 ids (``+ 2`` with ``add_start_end``).

    The vocabulary ``vocab_name`` is computed over the (truncated) tokens.
    With ``add_start_end`` every row is ``[<s>, ids.., </s>, pad..]``.
    """
    if int(max_length) < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    tokens = tokenize(text, tokenizer, max_bytes=BYTES_PER_TOKEN * max_length)[:, :max_length]
    ids = tft.compute_and_apply_vocabulary(
        tokens, default_value=UNK_ID, top_k=top_k, frequency_threshold=frequency_threshold,
        vocab_filename=vocab_name, reserved_tokens=list(RESERVED_TOKENS), name=f"vocab_{vocab_name}")
    empty = tf.equal(ids.row_lengths(), 0)
    if add_start_end:
        ends = tf.ones_like(ids[:, :1])
        ids = tf.concat([ends * START_ID, ids, ends * END_ID], axis=1)
        return _pad(ids, max_length + 2)
    dense = _pad(ids, max_length)
    first = tf.where(empty, tf.constant(UNK_ID, tf.int64), dense[:, 0])
    return tf.concat([first[:, None], dense[:, 1:]], axis=1)


def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Mapping[str, Any] | None = None) -> dict[str, tf.Tensor]:
    config = dict(custom_config or {})
    text_key = config.get("text_key", contract.TEXT)
    label_key = config.get("label_key", contract.LABEL)
    if text_key not in inputs:
        raise ValueError(f"no text feature '{text_key}' in the raw data; features: {sorted(inputs)}")
    outputs = {contract.ids_feature(text_key): token_ids(
        dense_column(inputs[text_key], ""), max_length=int(config.get("max_length", 128)),
        vocab_name=config.get("vocab_name", contract.VOCAB), tokenizer=config.get("tokenizer", "word"),
        top_k=config.get("top_k", 20000), frequency_threshold=config.get("frequency_threshold"))}
    if label_key in inputs:
        outputs[label_key] = tf.cast(dense_column(inputs[label_key], -1), tf.int64)
    return outputs

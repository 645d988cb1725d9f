"""Raw strings -> a BERT encoder's packed inputs, in the graph (keras-hub style).

:class:`BertPreprocessor` holds a keras-hub WordPiece tokenizer and
keras-hub's ``MultiSegmentPacker``: one or two string segments become
``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]``, truncated round-robin to
``sequence_length`` and padded with ``[PAD]``. It also says whether the text
was truncated, so a served signature can report it. It runs inside a Keras
model (``fit`` and the exported signatures alike), so every signature takes
raw strings; it never runs under XLA (``supports_jit = False``).

Empty strings pack to ``[CLS] [SEP]``; bytes that are not UTF-8 become
``[UNK]`` (the tokenizer's own behaviour), never an error.

Example:

>>> import keras_hub
>>> vocab = ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]", "the", "cat", "sat", "##s"]
>>> tokenizer = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=vocab, lowercase=True,
...                                                    special_tokens=["[MASK]"], special_tokens_in_strings=True)
>>> packer = BertPreprocessor(tokenizer, sequence_length=6)  # "the cat ##s" + "[MASK] sat": round-robin
>>> out = packer([keras.ops.convert_to_tensor(["The cats"]), keras.ops.convert_to_tensor(["[MASK] sat"])])
>>> keras.ops.convert_to_numpy(out["token_ids"]).tolist(), keras.ops.convert_to_numpy(out["segment_ids"]).tolist()
([[1, 5, 6, 2, 4, 2]], [[0, 0, 0, 0, 1, 1]])
>>> keras.ops.convert_to_numpy(out["truncated"]).tolist()
[True]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import keras_hub
from keras_hub.src.utils.tensor_utils import no_convert_scope

from models.features import wordpiece


@keras.saving.register_keras_serializable(package="zoo")
class BertPreprocessor(keras.layers.Layer):
    """One or two string tensors -> ``token_ids``, ``segment_ids``, ``padding_mask``, ``truncated``.

    Args:
        tokenizer: a keras-hub WordPiece tokenizer (``BertTokenizer`` or
            ``WordPieceTokenizer``), ``[MASK]`` written in a string being the
            mask token (``special_tokens_in_strings=True``).
        sequence_length: packed length, ``[CLS]`` and ``[SEP]`` included.
        truncate: ``"round_robin"`` or ``"waterfall"`` (``MultiSegmentPacker``'s).
        cls_id, sep_id, pad_id: the reserved ids (:mod:`models.features.wordpiece`).

    Call: a string tensor ``[batch]`` (or ``[batch, 1]``), or a list of one or
    two of them. Returns ``token_ids`` and ``segment_ids`` (int32 ``[batch,
    sequence_length]``), ``padding_mask`` (bool, true on real tokens) and
    ``truncated`` (bool ``[batch]``: some token of the text did not fit).
    """

    def __init__(self, tokenizer: Any, sequence_length: int, truncate: str = "round_robin",
                 cls_id: int = wordpiece.CLS_ID, sep_id: int = wordpiece.SEP_ID, pad_id: int = wordpiece.PAD_ID,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        if sequence_length < 3:
            raise ValueError(f"sequence_length must be >= 3 ([CLS] a [SEP]), got {sequence_length}")
        self.tokenizer = tokenizer
        self.sequence_length = int(sequence_length)
        self.truncate = truncate
        self.cls_id, self.sep_id, self.pad_id = int(cls_id), int(sep_id), int(pad_id)
        self.packer = keras_hub.layers.MultiSegmentPacker(
            self.sequence_length, start_value=self.cls_id, end_value=self.sep_id, pad_value=self.pad_id,
            truncate=truncate, name="packer")
        # Strings in, and tensorflow-text ops: never converted to tensors by Keras, never under XLA.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.supports_jit = False
        self.built = True

    @staticmethod
    def _segments(inputs: Any) -> list[Any]:
        segments = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if not 1 <= len(segments) <= 2:
            raise ValueError(f"BertPreprocessor packs one or two text segments, got {len(segments)}")
        return segments

    def call(self, inputs: Any) -> dict[str, Any]:
        segments = [keras.ops.reshape(s, (-1,)) for s in self._segments(inputs)]
        with no_convert_scope():  # keep keras-hub's ragged outputs as tensors, eagerly too
            tokens = [self.tokenizer(s) for s in segments]
            token_ids, segment_ids = self.packer(tuple(tokens) if len(tokens) > 1 else tokens[0])
        lengths = sum(keras.ops.cast(t.row_lengths(), "int32") for t in tokens)
        return {
            "token_ids": keras.ops.cast(token_ids, "int32"),
            "segment_ids": keras.ops.cast(segment_ids, "int32"),
            "padding_mask": keras.ops.not_equal(token_ids, self.pad_id),
            "truncated": keras.ops.greater(lengths + len(tokens) + 1, self.sequence_length),
        }

    def compute_output_spec(self, inputs: Any) -> dict[str, keras.KerasTensor]:
        batch = self._segments(inputs)[0].shape[0]
        shape = (batch, self.sequence_length)
        return {"token_ids": keras.KerasTensor(shape, "int32"), "segment_ids": keras.KerasTensor(shape, "int32"),
                "padding_mask": keras.KerasTensor(shape, "bool"), "truncated": keras.KerasTensor((batch,), "bool")}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
                "sequence_length": self.sequence_length, "truncate": self.truncate,
                "cls_id": self.cls_id, "sep_id": self.sep_id, "pad_id": self.pad_id}


def wordpiece_tokenizer(vocabulary: str | Sequence[str], lowercase: bool = True) -> Any:
    """The keras-hub ``BertTokenizer`` of a vocabulary file (or list) whose first tokens are
    :data:`~models.features.wordpiece.RESERVED_TOKENS`; ``[MASK]`` in a string is the mask token.

    A vocabulary whose reserved tokens are missing or out of place raises ``ValueError``.
    """
    tokens = _read_vocabulary(vocabulary)
    head = tuple(tokens[:len(wordpiece.RESERVED_TOKENS)])
    if head != wordpiece.RESERVED_TOKENS:
        raise ValueError(f"the WordPiece vocabulary must start with {list(wordpiece.RESERVED_TOKENS)}; "
                         f"it starts with {list(head)}")
    return keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=lowercase,
                                          special_tokens_in_strings=True)


def _read_vocabulary(vocabulary: str | Sequence[str]) -> list[str]:
    if isinstance(vocabulary, str):
        with open(vocabulary, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]
    return list(vocabulary)

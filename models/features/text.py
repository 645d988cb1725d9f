"""Text data: what ``components/transforms/text.py`` writes and the text families read.

The Transform tokenises the raw string :data:`TEXT` and writes fixed-length
int64 token ids under :func:`ids_feature` of its name (:data:`TEXT_IDS` by
default), 0 (:data:`PAD_ID`) padding the end, from a vocabulary file named
:data:`VOCAB` whose first entries are :data:`RESERVED_TOKENS`: ``<pad>`` = 0,
``<s>`` = 1, ``</s>`` = 2, ``<unk>`` = 3 (unknown tokens). Character-level
tokenising writes a space as :data:`SPACE_MARKER`. The label passes through
as :data:`LABEL` (int64).

The trainer describes the vocabularies to a family in
``DataSpec.extras["vocab_sizes"]`` (name -> size, reserved tokens included)
and ``DataSpec.extras["vocab_files"]`` (name -> path).
"""

from __future__ import annotations

from typing import Any

from models.features import feature_shape

TEXT = "text"      # raw string feature
LABEL = "label"    # class id
VOCAB = "text"     # the vocabulary file the Transform writes for TEXT
RESERVED_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
PAD_ID, START_ID, END_ID, UNK_ID = range(len(RESERVED_TOKENS))
SPACE_MARKER = "\u2581"  # a space, in character-level tokens


def ids_feature(text_key: str) -> str:
    """The transformed token-id feature written for raw text feature ``text_key``.

    >>> ids_feature("review")
    'review_ids'
    """
    return f"{text_key}_ids"


TEXT_IDS = ids_feature(TEXT)


def vocab_size(data: Any, vocab_name: str, override: int | None = None) -> int:
    """Size of the Transform vocabulary ``vocab_name`` of a ``DataSpec`` (reserved tokens included),
    or ``override``.

    >>> from models.base import DataSpec
    >>> vocab_size(DataSpec({}, extras={"vocab_sizes": {"text": 12}}), "text")
    12
    """
    if override:
        return int(override)
    sizes = data.extras.get("vocab_sizes", {})
    if vocab_name not in sizes:
        raise ValueError(f"no vocabulary '{vocab_name}' in the data (known: {sorted(sizes)}); set the "
                         "vocab name hparam to one the Transform writes, or give its size")
    return int(sizes[vocab_name])


def sequence_length(data: Any, name: str) -> int:
    """Length of the fixed-length token-id feature ``name`` of a ``DataSpec``."""
    shape = feature_shape(data.features, name)
    if len(shape) != 1:
        raise ValueError(f"feature '{name}' must be token ids of shape (length,), got {shape}")
    return shape[0]

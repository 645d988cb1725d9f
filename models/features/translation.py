"""Translation data: what ``components/transforms/translation.py`` writes and seq2seq reads.

The raw :data:`SOURCE` string becomes :data:`SOURCE_IDS` (int64,
``(max_source_length,)``, padded with :data:`PAD_ID`) from the vocabulary
:data:`SOURCE_VOCAB`; the raw :data:`TARGET` string becomes, under its own
name (it is the label, so serving drops it), ``[<s>, ids.., </s>, pad..]``
of length ``max_target_length + 2`` from the vocabulary :data:`TARGET_VOCAB`.
Tokenising and reserved ids are those of :mod:`models.features.text`.
"""

from __future__ import annotations

from models.features.text import END_ID, PAD_ID, RESERVED_TOKENS, SPACE_MARKER, START_ID, UNK_ID  # noqa: F401

SOURCE = "source"             # raw source string (ted_hrlr_translate/pt_to_en: "pt")
TARGET = "target"             # raw target string, the label (ted_hrlr_translate/pt_to_en: "en")
SOURCE_IDS = "source_ids"     # transformed source token ids
SOURCE_VOCAB = "source"
TARGET_VOCAB = "target"

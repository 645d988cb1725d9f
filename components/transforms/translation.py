"""Transform for translation (seq2seq): raw source and target strings to token ids.

``custom_config`` (all optional)::

    {"source_key": "source", "target_key": "target",   # ted_hrlr_translate/pt_to_en: "pt", "en"
     "tokenizer": "word",                               # or "char"; per side: source_/target_tokenizer
     "max_source_length": 64, "max_target_length": 64,
     "source_top_k": 20000, "target_top_k": 20000,
     "source_vocab": "source", "target_vocab": "target"}

Outputs ``source_ids`` (int64, ``(max_source_length,)``, 0 = padding) and,
under the raw target's own name (the label, so serving drops it),
``[<s>, ids.., </s>, pad..]`` of length ``max_target_length + 2``. Tokenising
is that of :mod:`components.transforms.text`; names and reserved ids are the
contract in :mod:`models.features.translation`, which seq2seq reads too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from components.transforms.text import dense_column, token_ids
from models.features import translation as contract
from models.features.translation import SOURCE_IDS


def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Mapping[str, Any] | None = None) -> dict[str, tf.Tensor]:
    config = dict(custom_config or {})
    tokenizer = config.get("tokenizer", "word")
    source_key = config.get("source_key", contract.SOURCE)
    target_key = config.get("target_key", contract.TARGET)
    if source_key not in inputs:
        raise ValueError(f"no source feature '{source_key}' in the raw data; features: {sorted(inputs)}")
    outputs = {SOURCE_IDS: token_ids(
        dense_column(inputs[source_key], ""), max_length=int(config.get("max_source_length", 64)),
        vocab_name=config.get("source_vocab", contract.SOURCE_VOCAB),
        tokenizer=config.get("source_tokenizer", tokenizer), top_k=config.get("source_top_k", 20000))}
    if target_key in inputs:
        outputs[target_key] = token_ids(
            dense_column(inputs[target_key], ""), max_length=int(config.get("max_target_length", 64)),
            vocab_name=config.get("target_vocab", contract.TARGET_VOCAB),
            tokenizer=config.get("target_tokenizer", tokenizer), top_k=config.get("target_top_k", 20000),
            add_start_end=True)
    return outputs

"""Transform preprocessing_fns for text (components/transforms/text.py, translation.py).

Each runs through ``tft_beam.AnalyzeAndTransformDataset`` on a handful of raw
rows, then the written transform graph is applied to raw strings the way the
served model applies it (no label / target feature at serving time).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from components.transforms import text, translation

LONG = " ".join(f"w{i}" for i in range(5000))
REVIEW_ROWS = [
    {"text": b"The film was GREAT, great!", "label": 1},
    {"text": b"", "label": 0},
    {"text": b"\xff\xfe bad bytes \xc3", "label": 0},
    {"text": LONG.encode(), "label": 1},
    {"text": "Caf\u00c9 \u00e9t\u00c9 ok".encode(), "label": 1},
]
STRING = tf.io.FixedLenFeature([], tf.string)


def analyze(rows: list[dict], spec: Mapping[str, Any], fn: Callable, config: dict,
            workdir: str) -> tuple[list[dict], tft.TFTransformOutput]:
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
    with tft_beam.Context(temp_dir=os.path.join(workdir, "tmp")):
        (out, _), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: fn(inputs, config), output_record_batches=False)
        _ = transform_fn | tft_beam.WriteTransformFn(os.path.join(workdir, "transform"))
    # As TFX's Transform does: the raw schema beside the graph (what serving parses).
    metadata_io.write_metadata(metadata, os.path.join(workdir, "transform",
                                                      tft.TFTransformOutput.RAW_METADATA_DIR))
    return list(out), tft.TFTransformOutput(os.path.join(workdir, "transform"))


def vocabulary(output: tft.TFTransformOutput, name: str) -> list[str]:
    with open(output.vocabulary_file_by_name(name), encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


@pytest.fixture(scope="module")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], tft.TFTransformOutput]:
    spec = {"text": STRING, "label": tf.io.FixedLenFeature([], tf.int64)}
    return analyze(REVIEW_ROWS, spec, text.preprocessing_fn, {"max_length": 8},
                   str(tmp_path_factory.mktemp("reviews")))


def words(ids: np.ndarray, vocab: list[str]) -> list[str]:
    return [vocab[i] for i in ids if i != text.PAD_ID]


def test_text_ids_are_fixed_length_with_reserved_tokens_first(reviews: tuple) -> None:
    rows, output = reviews
    vocab = vocabulary(output, "text")
    assert vocab[:4] == list(text.RESERVED_TOKENS)
    assert output.vocabulary_size_by_name("text") == len(vocab)
    assert output.transformed_feature_spec()["text_ids"] == tf.io.FixedLenFeature([8], tf.int64)
    assert [r["label"] for r in rows] == [1, 0, 0, 1, 1]
    # Lower-cased, punctuation split off; the same word gets the same id.
    assert words(rows[0]["text_ids"], vocab) == ["the", "film", "was", "great", ",", "great", "!"]
    assert words(rows[4]["text_ids"], vocab) == ["caf\u00e9", "\u00e9t\u00e9", "ok"]


def test_malformed_texts_give_defined_ids(reviews: tuple) -> None:
    rows, output = reviews
    vocab = vocabulary(output, "text")
    # Empty: one <unk>, never an all-padding row.
    assert rows[1]["text_ids"].tolist() == [text.UNK_ID] + [text.PAD_ID] * 7
    # Invalid UTF-8 bytes become U+FFFD tokens.
    assert words(rows[2]["text_ids"], vocab) == ["\ufffd", "\ufffd", "bad", "bytes", "\ufffd"]
    # Far longer than max_length: its first max_length tokens.
    assert words(rows[3]["text_ids"], vocab) == [f"w{i}" for i in range(8)]


def test_served_transform_takes_raw_strings_without_the_label(reviews: tuple) -> None:
    rows, output = reviews
    layer = output.transform_features_layer()
    raw = tf.constant([r["text"] for r in REVIEW_ROWS] + [b"never seen words"])
    served = layer({"text": raw})
    assert set(served) == {"text_ids"}
    np.testing.assert_array_equal(served["text_ids"].numpy()[:5], np.stack([r["text_ids"] for r in rows]))
    assert served["text_ids"].numpy()[5].tolist()[:3] == [text.UNK_ID] * 3


def test_the_rnn_reads_by_default_what_the_text_transform_writes(reviews: tuple) -> None:
    """The contract in models/features/text.py: names the Transform writes are the family defaults."""
    import models.rnn  # noqa: F401  (registers 'rnn')
    from components.trainer.data import data_spec
    from models import registry
    from models.features import text as contract

    rows, output = reviews
    assert set(output.transformed_feature_spec()) == {contract.TEXT_IDS, contract.LABEL}
    data = data_spec(output, contract.LABEL, 2)
    assert set(data.extras["vocab_sizes"]) == {contract.VOCAB}
    family = registry.get("rnn")
    model = family.build(family.hparams({"units": 4, "embedding_dim": 4}), data)
    ids = np.stack([r[contract.TEXT_IDS] for r in rows])
    assert tuple(model({contract.TEXT_IDS: ids}).shape) == (len(rows), 2)
    assert model.get_layer("embedding").input_dim == output.vocabulary_size_by_name(contract.VOCAB)


def test_sparse_inputs_and_bad_config() -> None:
    sparse = tf.SparseTensor([[0, 0], [2, 0]], tf.constant([b"a", b"b"]), [3, 1])
    assert text.dense_column(sparse, b"").numpy().tolist() == [b"a", b"", b"b"]
    tokens = text.tokenize(tf.constant(["Hello,  World!", ""]), "char")
    assert tokens.to_list() == [[c.encode() for c in "hello,\u2581world!"], []]
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        text.tokenize(tf.constant(["x"]), "bpe")
    with pytest.raises(ValueError, match="no text feature 'review'"):
        text.preprocessing_fn({"text": tf.constant(["x"])}, {"text_key": "review"})


DATE_ROWS = [
    {"source": b"3 March 2015", "target": b"2015-03-03"},
    {"source": b"TUESDAY, MARCH 3, 2015", "target": b"2015-03-03"},
    {"source": b"12/31/1999", "target": b"1999-12-31"},
    {"source": b"", "target": b"2000-01-01"},
    {"source": b"\xff" + b"9" * 300, "target": b"2049-12-31"},
]
DATES_CONFIG = {"tokenizer": "char", "max_source_length": 20, "max_target_length": 10}


@pytest.fixture(scope="module")
def dates(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], tft.TFTransformOutput]:
    return analyze(DATE_ROWS, {"source": STRING, "target": STRING}, translation.preprocessing_fn,
                   DATES_CONFIG, str(tmp_path_factory.mktemp("dates")))


def test_translation_targets_are_framed_by_start_and_end(dates: tuple) -> None:
    rows, output = dates
    spec = output.transformed_feature_spec()
    assert spec["source_ids"].shape == [20] and spec["target"].shape == [12]
    source_vocab, target_vocab = vocabulary(output, "source"), vocabulary(output, "target")
    for row, raw in zip(rows, DATE_ROWS):
        target = row["target"].tolist()
        assert target[0] == text.START_ID and target[11] == text.END_ID
        assert "".join(target_vocab[i] for i in target[1:11]) == raw["target"].decode()
    assert "".join(words(rows[0]["source_ids"], source_vocab)) == "3\u2581march\u25812015"
    assert rows[3]["source_ids"].tolist() == [text.UNK_ID] + [0] * 19      # empty source
    assert words(rows[4]["source_ids"], source_vocab) == ["\ufffd"] + ["9"] * 19  # bad byte, truncated


def test_served_translation_transform_needs_no_target(dates: tuple) -> None:
    rows, output = dates
    served = output.transform_features_layer()({"source": tf.constant([r["source"] for r in DATE_ROWS])})
    assert set(served) == {"source_ids"}
    np.testing.assert_array_equal(served["source_ids"].numpy(), np.stack([r["source_ids"] for r in rows]))


def test_ted_translation_rows_through_word_transform(tmp_path: object) -> None:
    """The real TFDS translation set (mock data) through the transform, feature names from config."""
    with tfds.testing.mock_data(num_examples=6):
        rows = list(tfds.as_numpy(tfds.load("ted_hrlr_translate/pt_to_en", split="train")))
    config = {"source_key": "pt", "target_key": "en", "max_source_length": 12, "max_target_length": 12}
    out, output = analyze(rows, {"pt": STRING, "en": STRING}, translation.preprocessing_fn, config,
                          str(tmp_path))
    assert set(out[0]) == {"source_ids", "en"}
    assert all(r["en"][0] == text.START_ID and text.END_ID in r["en"] for r in out)
    assert vocabulary(output, "target")[:4] == list(text.RESERVED_TOKENS)


def test_seq2seq_exports_raw_string_in_decoded_string_out(dates: tuple, tmp_path: object) -> None:
    """Transform + seq2seq + the project's exporter: a raw source string in, a string out."""
    import models.seq2seq  # noqa: F401  (registers 'seq2seq')
    from components.trainer.data import data_spec
    from components.trainer.export import export_serving_model
    from models import registry

    rows, output = dates
    data = data_spec(output, "target", None)
    family = registry.get("seq2seq")
    hp = family.hparams({"units": 8, "embedding_dim": 4, "epochs": 1, "output_separator": "",
                         "max_decode_length": 11})
    model = family.build(hp, data)
    columns = {k: np.stack([r[k] for r in rows]) for k in rows[0]}
    dataset = tf.data.Dataset.from_tensor_slices(({"source_ids": columns["source_ids"]}, columns["target"]))
    family.train(model, hp, dataset.batch(5), None)
    names = export_serving_model(model, family, hp, data, output, str(tmp_path / "export"))
    assert {"translate", "translate_raw", "translate_beam", "serving_default"} <= set(names)
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    out = loaded.signatures["translate_raw"](source=tf.constant(["3 March 2015", ""]))
    assert out["translation"].dtype == tf.string and out["translation"].shape == (2,)
    assert out["attention"].shape == (2, 11, 20)
    example = tf.train.Example(features=tf.train.Features(feature={
        "source": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"12/31/1999"]))}))
    beam = loaded.signatures["translate_beam"](examples=tf.constant([example.SerializeToString()]))
    assert beam["token_ids"].shape == (1, 11)

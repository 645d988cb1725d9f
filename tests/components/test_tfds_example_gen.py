"""Tests of the `digits` TFDS builder and of TfdsExampleGen (function, executor, component)."""

from __future__ import annotations

import json
import os
import socket

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from components.tfds_example_gen import (
    DatasetNotAvailableError,
    feature_converters,
    load_builder,
    serialize_dense_batches,
    serialize_examples,
    to_tf_example,
    write_tfds_examples,
)
from datasets import digits

NUM_DIGITS = 1797


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("tfds_data"))


@pytest.fixture(scope="module")
def digits_builder(data_dir) -> tfds.core.DatasetBuilder:
    builder = tfds.builder("digits", data_dir=data_dir)
    builder.download_and_prepare()
    return builder


def _read_split(builder, split: str) -> tuple[np.ndarray, np.ndarray]:
    batch = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
    return batch["image"], batch["label"]


def _read_examples(split_dir: str) -> list[tf.train.Example]:
    files = sorted(tf.io.gfile.glob(os.path.join(split_dir, "*")))
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    return [tf.train.Example.FromString(record) for record in ds.as_numpy_iterator()]


@pytest.fixture
def no_network(monkeypatch) -> list:
    """Records (and refuses) every socket connection or DNS lookup."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


# --- The digits builder -------------------------------------------------------


def test_digits_split_sizes(digits_builder):
    splits = digits_builder.info.splits
    assert splits["train"].num_examples == 1437
    assert splits["test"].num_examples == 360
    assert len(_read_split(digits_builder, "train")[1]) == 1437


def test_digits_split_is_deterministic_disjoint_and_complete():
    first = digits.split_indices()
    digits.split_indices.cache_clear()
    second = digits.split_indices()
    for name in ("train", "test"):
        np.testing.assert_array_equal(first[name], second[name])
    assert not set(first["train"]) & set(first["test"])
    assert sorted([*first["train"], *first["test"]]) == list(range(NUM_DIGITS))


def test_digits_keys_are_source_rows(digits_builder):
    rows = digits.split_indices()["test"][:5]
    keys = [key for key, _ in digits_builder._generate_examples(rows)]
    assert keys == [int(r) for r in rows]


def test_digits_content_matches_sklearn(digits_builder):
    from sklearn.datasets import load_digits

    source = load_digits()
    images, labels = _read_split(digits_builder, "test")
    rows = digits.split_indices()["test"]
    expected = {
        (np.rint(source.images[r] * 255 / 16).astype(np.uint8).tobytes(), int(source.target[r]))
        for r in rows
    }
    got = {(image[..., 0].tobytes(), int(label)) for image, label in zip(images, labels)}
    assert got == expected


def test_digits_value_range(digits_builder):
    images, labels = _read_split(digits_builder, "train")
    assert images.shape[1:] == (8, 8, 1) and images.dtype == np.uint8
    assert images.min() == 0 and images.max() == 255
    allowed = {round(v * 255 / 16) for v in range(17)}
    assert set(np.unique(images).tolist()) <= allowed
    assert set(labels.tolist()) == set(range(10))


def test_digits_labels_are_stratified(digits_builder):
    _, train = _read_split(digits_builder, "train")
    _, test = _read_split(digits_builder, "test")
    train_counts, test_counts = np.bincount(train, minlength=10), np.bincount(test, minlength=10)
    total = train_counts + test_counts
    assert np.all(np.abs(test_counts - digits.TEST_FRACTION * total) <= 1)
    assert train_counts.min() >= 0.9 * train_counts.max()


def test_digits_info_is_documented(digits_builder):
    info = digits_builder.info
    assert "handwritten" in info.description
    assert info.homepage.startswith("https://") and "@misc" in info.citation
    assert info.supervised_keys == ("image", "label")


# --- Feature conversion -------------------------------------------------------


def test_digits_converters(digits_builder):
    converters = feature_converters(digits_builder.info.features)
    described = {c.name: (c.tfds_type, c.kind, c.shape, c.dtype) for c in converters}
    assert described == {
        "image": ("Image", "int64", (8, 8, 1), "uint8"),
        "label": ("ClassLabel", "int64", (), "int64"),
    }
    assert converters[1].describe()["num_classes"] == 10


def test_example_round_trip(digits_builder):
    converters = feature_converters(digits_builder.info.features)
    example = next(iter(tfds.as_numpy(digits_builder.as_dataset(split="test"))))
    serialized = to_tf_example(example, converters).SerializeToString()
    parsed = tf.io.parse_single_example(
        serialized,
        {
            "image": tf.io.FixedLenFeature([64], tf.int64),
            "label": tf.io.FixedLenFeature([], tf.int64),
        },
    )
    np.testing.assert_array_equal(parsed["image"].numpy(), example["image"].reshape(-1))
    assert parsed["label"].numpy() == example["label"]


def _mixed_features() -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict(
        {
            "pair": {"src": tfds.features.Text(), "tgt": tfds.features.Text()},
            "weights": tfds.features.Tensor(shape=(2, 3), dtype=np.float32),
            "tokens": tfds.features.Tensor(shape=(None,), dtype=np.str_),
            "flag": tfds.features.Scalar(dtype=np.bool_),
        }
    )


def _mixed_example(i: int) -> dict:
    return {
        "pair": {"src": f"olá {i}".encode(), "tgt": f"hello {i}".encode()},
        "weights": np.full((2, 3), i / 4, dtype=np.float32),
        "tokens": np.array([b"t%d" % j for j in range(i % 3)], dtype=object),  # 0..2 tokens.
        "flag": np.bool_(i % 2),
    }


def test_nested_text_float_and_string_tensors():
    converters = feature_converters(_mixed_features())
    kinds = {c.name: c.kind for c in converters}
    assert kinds == {
        "pair/src": "bytes",
        "pair/tgt": "bytes",
        "weights": "float",
        "tokens": "bytes",
        "flag": "int64",
    }
    value = {
        "pair": {"src": "olá mundo".encode(), "tgt": b"hello world"},
        "weights": np.arange(6, dtype=np.float32).reshape(2, 3) / 4,
        "tokens": np.array([b"a", b"bc"], dtype=object),
        "flag": np.bool_(True),
    }
    feature = to_tf_example(value, converters).features.feature
    assert feature["pair/src"].bytes_list.value[0].decode("utf-8") == "olá mundo"
    assert list(feature["weights"].float_list.value) == [0, 0.25, 0.5, 0.75, 1.0, 1.25]
    assert list(feature["tokens"].bytes_list.value) == [b"a", b"bc"]
    assert list(feature["flag"].int64_list.value) == [1]


def test_batched_serialization_matches_single_examples():
    converters = feature_converters(_mixed_features())
    rows = [_mixed_example(i) for i in range(5)]
    records = list(serialize_examples(rows, converters, batch_size=2))
    assert [tf.train.Example.FromString(r) for r in records] == [
        to_tf_example(row, converters) for row in rows
    ]
    tokens = [
        tf.train.Example.FromString(r).features.feature["tokens"].bytes_list.value for r in records
    ]
    assert [list(t) for t in tokens] == [[], [b"t0"], [b"t0", b"t1"], [], [b"t0"]]


def test_dense_batch_serialization_matches_single_examples():
    features = _mixed_features()
    converters = [c for c in feature_converters(features) if c.fixed_shape]
    assert [c.name for c in converters] == ["pair/src", "pair/tgt", "weights", "flag"]
    rows = [_mixed_example(i) for i in range(5)]
    batch = {
        "pair": {k: np.array([r["pair"][k] for r in rows], dtype=object) for k in ("src", "tgt")},
        "weights": np.stack([r["weights"] for r in rows]),
        "flag": np.array([r["flag"] for r in rows]),
    }
    records = list(serialize_dense_batches([batch], converters))
    assert [tf.train.Example.FromString(r) for r in records] == [
        to_tf_example(row, converters) for row in rows
    ]


def test_unsupported_feature_is_named():
    features = tfds.features.FeaturesDict(
        {
            "label": tfds.features.ClassLabel(num_classes=2),
            "meta": {"objects": tfds.features.Sequence({"bbox": tfds.features.BBoxFeature()})},
        }
    )
    with pytest.raises(ValueError, match=r"'meta/objects' has unsupported type Sequence"):
        feature_converters(features)


# --- write_tfds_examples --------------------------------------------------------


def test_write_layout_counts_and_shards(digits_builder, data_dir, tmp_path):
    export = write_tfds_examples(
        "digits",
        str(tmp_path),
        data_dir=data_dir,
        num_shards=2,
        splits={"train": "train[:90%]", "eval": "test"},
    )
    assert export.split_names == ["train", "eval"]
    assert export.num_examples == {"train": 1293, "eval": 360}
    assert (export.dataset, export.version) == ("digits", "1.0.0")
    assert sorted(os.listdir(tmp_path)) == ["Split-eval", "Split-train"]
    assert sorted(os.listdir(tmp_path / "Split-train")) == [
        "data_tfrecord-00000-of-00002.gz",
        "data_tfrecord-00001-of-00002.gz",
    ]
    examples = _read_examples(str(tmp_path / "Split-eval"))
    assert len(examples) == 360
    assert len(examples[0].features.feature["image"].int64_list.value) == 64
    eval_labels = sorted(e.features.feature["label"].int64_list.value[0] for e in examples)
    assert eval_labels == sorted(_read_split(digits_builder, "test")[1].tolist())


def test_write_caps_examples_and_replaces_stale_shards(data_dir, tmp_path):
    write_tfds_examples(
        "digits", str(tmp_path), data_dir=data_dir, num_shards=3, splits={"train": "train"}
    )
    export = write_tfds_examples(
        "digits",
        str(tmp_path),
        data_dir=data_dir,
        splits={"train": "train"},
        max_examples_per_split=7,
    )
    assert export.num_examples == {"train": 7}
    assert os.listdir(tmp_path / "Split-train") == ["data_tfrecord-00000-of-00001.gz"]
    assert len(_read_examples(str(tmp_path / "Split-train"))) == 7


@pytest.mark.parametrize(
    "splits, match",
    [
        ({}, "at least one"),
        ({"train/x": "train"}, "'train/x' is invalid"),
        ({"train": ""}, "non-empty"),
    ],
)
def test_bad_splits_fail_before_writing(splits, match, data_dir, tmp_path):
    with pytest.raises(ValueError, match=match):
        write_tfds_examples("digits", str(tmp_path), data_dir=data_dir, splits=splits)
    assert not os.listdir(tmp_path)


def test_unknown_tfds_split_fails_before_writing(digits_builder, data_dir, tmp_path):
    with pytest.raises(ValueError, match="validation"):
        write_tfds_examples(
            "digits",
            str(tmp_path),
            data_dir=data_dir,
            splits={"train": "train", "eval": "validation"},
        )
    assert not os.listdir(tmp_path)


def test_unprepared_remote_dataset_fails_without_network(tmp_path, no_network):
    empty = tmp_path / "empty_data_dir"
    with pytest.raises(DatasetNotAvailableError) as error:
        write_tfds_examples("mnist", str(tmp_path / "out"), data_dir=str(empty))
    message = str(error.value)
    assert message.startswith(
        f"TFDS dataset 'mnist' is not prepared in {empty} and downloads are off"
    )
    assert "tfds build mnist" in message and "allow_download=True" in message
    assert "\n" not in message
    assert no_network == []
    assert not (tmp_path / "out").exists()


def test_community_namespace_fails_without_network(tmp_path, no_network):
    with pytest.raises(DatasetNotAvailableError, match="community namespace 'huggingface'"):
        load_builder("huggingface:mnist", data_dir=str(tmp_path))
    assert no_network == []


def test_bad_builder_module_and_dataset_name(tmp_path):
    with pytest.raises(ValueError, match="'zoo.no_such_module' cannot be imported"):
        load_builder("digits", data_dir=str(tmp_path), builder_modules=["zoo.no_such_module"])
    with pytest.raises(ValueError, match="dataset must be a TFDS name"):
        write_tfds_examples("", str(tmp_path))


def test_builder_outside_builder_modules_counts_as_remote(tmp_path):
    from tests.fixtures import drifted_digits  # Registers `drifted_digits`.

    with pytest.raises(DatasetNotAvailableError, match="'drifted_digits' is not prepared"):
        load_builder("drifted_digits", data_dir=str(tmp_path), builder_modules=["datasets"])
    builder = load_builder(
        "drifted_digits", data_dir=str(tmp_path), builder_modules=[drifted_digits.__name__]
    )
    assert builder.is_prepared()


def test_drifted_digits_fixture(tmp_path):
    from tests.fixtures import drifted_digits

    export = write_tfds_examples(
        "drifted_digits",
        str(tmp_path / "out"),
        data_dir=str(tmp_path),
        builder_modules=[drifted_digits.__name__],
        splits={"train": "train"},
    )
    assert set(export.features) == {"image", "label", "stroke_width"}
    examples = _read_examples(str(tmp_path / "out" / "Split-train"))
    labels = {e.features.feature["label"].int64_list.value[0] for e in examples}
    widths = {e.features.feature["stroke_width"].int64_list.value[0] for e in examples}
    assert labels == set(range(13))
    assert widths == {1, 2, 3}


def test_mock_data_imdb_reviews(tmp_path, no_network):
    with tfds.testing.mock_data(num_examples=4):
        export = write_tfds_examples(
            "imdb_reviews/plain_text", str(tmp_path), data_dir=str(tmp_path / "none")
        )
    assert export.dataset == "imdb_reviews/plain_text"
    assert export.num_examples == {"train": 4, "eval": 4}
    assert export.features["text"]["example_type"] == "bytes"
    example = _read_examples(str(tmp_path / "Split-train"))[0].features.feature
    assert example["text"].bytes_list.value[0].decode("utf-8")
    assert example["label"].int64_list.value[0] in (0, 1)
    assert no_network == []


def test_mock_data_translation_pairs(tmp_path):
    with tfds.testing.mock_data(num_examples=3):
        export = write_tfds_examples(
            "ted_hrlr_translate/pt_to_en",
            str(tmp_path),
            splits={"train": "train", "eval": "validation"},
        )
    assert export.num_examples == {"train": 3, "eval": 3}
    assert {name: f["example_type"] for name, f in export.features.items()} == {
        "en": "bytes",
        "pt": "bytes",
    }


# --- TFX executor and component ------------------------------------------------


def test_executor_do_writes_an_examples_artifact(digits_builder, data_dir, tmp_path):
    from tfx.components.util import examples_utils
    from tfx.proto import example_gen_pb2
    from tfx.types import artifact_utils, standard_artifacts

    from components.tfds_example_gen import executor

    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    exec_properties = {
        "dataset": "digits",
        "version": "1.0.0",
        "data_dir": data_dir,
        "splits": json.dumps({"train": "train", "eval": "test[:50%]"}),
        "builder_modules": json.dumps(["datasets"]),
        "allow_download": False,
        "num_shards": 1,
    }
    executor.Executor().Do({}, {"examples": [examples]}, exec_properties)

    assert artifact_utils.decode_split_names(examples.split_names) == ["train", "eval"]
    assert (
        examples_utils.get_payload_format(examples)
        == example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE
    )
    assert examples_utils.get_file_format(examples) == "tfrecords_gzip"
    assert examples.get_string_custom_property("tfds_dataset") == "digits"
    assert examples.get_string_custom_property("tfds_version") == "1.0.0"
    counts = json.loads(examples.get_string_custom_property("tfds_num_examples"))
    assert counts == {"train": 1437, "eval": 180}
    features = json.loads(examples.get_string_custom_property("tfds_features"))
    assert features["image"]["shape"] == [8, 8, 1]
    eval_uri = artifact_utils.get_split_uri([examples], "eval")
    assert os.listdir(eval_uri) == ["data_tfrecord-00000-of-00001.gz"]
    assert len(_read_examples(eval_uri)) == 180


def test_component_serialises_parameters():
    from components.tfds_example_gen import TfdsExampleGen

    gen = TfdsExampleGen(
        dataset="digits", splits={"train": "train[:90%]", "eval": "train[90%:]"}, num_shards=2
    )
    props = gen.exec_properties
    assert json.loads(props["splits"]) == {"train": "train[:90%]", "eval": "train[90%:]"}
    assert json.loads(props["builder_modules"]) == ["datasets"]
    assert props["allow_download"] is False and props["num_shards"] == 2
    assert gen.outputs["examples"].type_name == "Examples"
    with pytest.raises(ValueError, match="num_shards"):
        TfdsExampleGen(dataset="digits", num_shards=0)
    with pytest.raises(TypeError, match="list of module names"):
        TfdsExampleGen(dataset="digits", builder_modules="datasets")


# ------------------------------------------------- new data triggers retraining


def _driver_properties(data_dir: str, **overrides) -> dict:
    from tfx.orchestration.portable import data_types

    from components.tfds_example_gen import driver

    exec_properties = {"dataset": "digits", "data_dir": data_dir, "splits": json.dumps({"train": "train"}),
                       "builder_modules": json.dumps(["datasets"]), "allow_download": False, "num_shards": 1,
                       **overrides}
    output = driver.Driver(None).run(data_types.ExecutionInfo(exec_properties=exec_properties))
    return {key: value.string_value for key, value in output.exec_properties.items()}


def test_driver_fingerprints_the_prepared_data(digits_builder, data_dir, tmp_path):
    import shutil

    first = _driver_properties(data_dir)
    assert first["tfds_resolved_version"] == str(digits_builder.version)
    assert first["input_fingerprint"].startswith(f"digits:{digits_builder.version}:")
    assert _driver_properties(data_dir) == first  # unchanged data: the same cache key
    assert _driver_properties(data_dir, version=str(digits_builder.version)) == first

    copy = str(tmp_path / "copy")
    shutil.copytree(data_dir, copy)  # same files, sizes and times elsewhere: the same data
    assert _driver_properties(copy) == first
    changed = sorted(tf.io.gfile.glob(os.path.join(copy, "digits", "*", "*.tfrecord*")))[0]
    os.utime(changed, ns=(0, 1))  # re-prepared / changed local data
    assert _driver_properties(copy)["input_fingerprint"] != first["input_fingerprint"]


def test_driver_refuses_an_unprepared_remote_dataset(tmp_path, no_network):
    with pytest.raises(DatasetNotAvailableError, match="not prepared"):
        _driver_properties(str(tmp_path / "empty"), dataset="mnist")


def test_examples_carry_span_version_and_fingerprint(digits_builder, data_dir, tmp_path):
    from tfx.types import standard_artifacts

    from components.tfds_example_gen import executor

    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    properties = {"dataset": "digits", "data_dir": data_dir, "splits": json.dumps({"train": "train[:10]"}),
                  "builder_modules": json.dumps(["datasets"]), "allow_download": False, "num_shards": 1}
    properties.update(_driver_properties(data_dir))
    executor.Executor().Do({}, {"examples": [examples]}, properties)
    assert examples.span == 0
    major, minor, patch = (int(p) for p in str(digits_builder.version).split("."))
    assert examples.version == major * 1_000_000 + minor * 1_000 + patch
    assert examples.get_string_custom_property("tfds_fingerprint") == properties["input_fingerprint"]


@pytest.mark.pipeline
def test_changed_data_reruns_example_gen_and_unchanged_data_is_cached(digits_builder, data_dir, tmp_path):
    import shutil

    from tfx.orchestration import metadata
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.orchestration.pipeline import Pipeline

    from components.tfds_example_gen import TfdsExampleGen

    copy = str(tmp_path / "tfds")
    shutil.copytree(data_dir, copy)
    store = str(tmp_path / "metadata.sqlite")

    def run() -> str:
        gen = TfdsExampleGen(dataset="digits", data_dir=copy, splits={"train": "train[:20]"})
        LocalDagRunner().run(Pipeline(
            pipeline_name="fingerprint", pipeline_root=str(tmp_path / "root"), components=[gen], enable_cache=True,
            metadata_connection_config=metadata.sqlite_metadata_connection_config(store)))
        from pipelines.runs import load_runs
        return load_runs(store, "fingerprint")[-1].steps[0].state

    assert run() == "ran"
    assert run() == "cached"
    changed = sorted(tf.io.gfile.glob(os.path.join(copy, "digits", "*", "*.tfrecord*")))[0]
    os.utime(changed, ns=(0, 1))
    assert run() == "ran"

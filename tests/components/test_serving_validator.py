"""ServingValidator executor: real REST/gRPC requests decide the InfraBlessing."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import tensorflow as tf
from tfx.components.util import model_utils
from tfx.types import standard_artifacts

from components.serving_validator import executor
from components.serving_validator.component import ServingValidator
from tests.fixtures import toy_model


def _examples_artifact(root, records):
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    examples.split_names = json.dumps(["train", "eval"])
    os.makedirs(os.path.join(examples.uri, "Split-eval"))
    with tf.io.TFRecordWriter(os.path.join(examples.uri, "Split-eval", "data_tfrecord-00000-of-00001.gz"),
                              options="GZIP") as writer:
        for record in records:
            writer.write(record)
    return examples


def _model_artifact(root, toy_base, version=1):
    model = standard_artifacts.Model()
    model.uri = str(root / "model")
    shutil.copytree(os.path.join(toy_base, str(version)), os.path.join(model.uri, "Format-Serving"))
    return model


def _run(model, examples, root):
    blessing = standard_artifacts.InfraBlessing()
    blessing.uri = str(root / "blessing")
    executor.Executor().Do({"model": [model], "examples": [examples]}, {"blessing": [blessing]},
                           {"num_examples": 3, "signature_name": "serving_default", "split": "eval", "rtol": 1e-4})
    return blessing


def test_good_model_is_blessed(tmp_path, toy_base, images):
    examples = _examples_artifact(tmp_path, [toy_model.make_example(i) for i in images])
    blessing = _run(_model_artifact(tmp_path, toy_base), examples, tmp_path)
    assert blessing.get_int_custom_property("blessed") == 1
    assert os.path.exists(os.path.join(blessing.uri, "INFRA_BLESSED"))
    assert model_utils.is_infra_validated(blessing)  # what the stock Pusher checks


def test_examples_the_model_cannot_serve_are_not_blessed(tmp_path, toy_base):
    wrong = tf.train.Example(features=tf.train.Features(feature={
        "pixels": tf.train.Feature(float_list=tf.train.FloatList(value=[0.0] * 64))})).SerializeToString()
    blessing = _run(_model_artifact(tmp_path, toy_base), _examples_artifact(tmp_path, [wrong]), tmp_path)
    assert blessing.get_int_custom_property("blessed") == 0
    assert os.path.exists(os.path.join(blessing.uri, "INFRA_NOT_BLESSED"))
    assert not model_utils.is_infra_validated(blessing)


def test_model_that_does_not_load_is_not_blessed(tmp_path, toy_base, images):
    model = _model_artifact(tmp_path, toy_base)
    with open(os.path.join(model.uri, "Format-Serving", "variables", "variables.data-00000-of-00001"), "wb") as f:
        f.write(b"corrupt")
    examples = _examples_artifact(tmp_path, [toy_model.make_example(i) for i in images])
    blessing = _run(model, examples, tmp_path)
    assert blessing.get_int_custom_property("blessed") == 0


def test_component_wires_the_infra_blessing_channel():
    from tfx.types import channel_utils
    model = channel_utils.as_channel([standard_artifacts.Model()])
    examples = channel_utils.as_channel([standard_artifacts.Examples()])
    component = ServingValidator(model=model, examples=examples, num_examples=4)
    assert component.outputs["blessing"].type == standard_artifacts.InfraBlessing
    assert component.exec_properties["num_examples"] == 4
    with pytest.raises(ValueError, match="num_examples"):
        ServingValidator(model=model, examples=examples, num_examples=0)


def test_model_artifact_without_a_saved_model_is_not_blessed(tmp_path, images):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    os.makedirs(os.path.join(model.uri, "Format-Serving"))
    examples = _examples_artifact(tmp_path, [toy_model.make_example(i) for i in images])
    blessing = _run(model, examples, tmp_path)
    assert blessing.get_int_custom_property("blessed") == 0
    assert "no SavedModel" in blessing.get_string_custom_property("reason")


def test_empty_eval_split_is_not_blessed(tmp_path, toy_base):
    blessing = _run(_model_artifact(tmp_path, toy_base), _examples_artifact(tmp_path, []), tmp_path)
    assert blessing.get_int_custom_property("blessed") == 0
    assert "no examples" in blessing.get_string_custom_property("reason")


def test_blessing_carries_a_warmed_up_model_as_tfx_make_warmup(tmp_path, toy_base, images):
    from serving import warmup

    records = [toy_model.make_example(i) for i in images]
    blessing = _run(_model_artifact(tmp_path, toy_base), _examples_artifact(tmp_path, records), tmp_path)
    assert blessing.get_int_custom_property("blessed") == 1
    assert blessing.get_int_custom_property(executor.MODEL_FLAG_KEY) == 1
    stamped = executor.stamped_model_path(blessing.uri)
    logs = warmup.read_warmup_requests(stamped)
    assert len(logs) == 3  # num_examples
    sent = [log.predict_log.request for log in logs]
    assert {r.model_spec.signature_name for r in sent} == {"serving_default"}
    assert [tf.make_ndarray(r.inputs["examples"])[0] for r in sent] == records[:3]


def test_no_warmed_up_model_when_not_blessed_or_not_asked(tmp_path, toy_base, images):
    wrong = tf.train.Example(features=tf.train.Features(feature={
        "pixels": tf.train.Feature(float_list=tf.train.FloatList(value=[0.0] * 64))})).SerializeToString()
    blessing = _run(_model_artifact(tmp_path, toy_base), _examples_artifact(tmp_path, [wrong]), tmp_path)
    assert blessing.get_int_custom_property("blessed") == 0  # the warmup replay itself fails the load
    assert not blessing.get_int_custom_property(executor.MODEL_FLAG_KEY)
    assert not os.path.exists(executor.stamped_model_path(blessing.uri))
    good = [toy_model.make_example(i) for i in images]
    other = tmp_path / "other"
    other.mkdir()
    blessing = standard_artifacts.InfraBlessing()
    blessing.uri = str(other / "blessing")
    executor.Executor().Do({"model": [_model_artifact(other, toy_base)], "examples": [_examples_artifact(other, good)]},
                           {"blessing": [blessing]}, {"num_examples": 2, "make_warmup": 0})
    assert blessing.get_int_custom_property("blessed") == 1
    assert not blessing.get_int_custom_property(executor.MODEL_FLAG_KEY)

"""The classify/regress SignatureDef edit: the proto, and TF still loading the result."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from components.trainer import signatures
from tests.fixtures import toy_model


def test_added_signature_defs_follow_tf_serving_conventions(toy_base):
    meta_graph = signatures.read_saved_model(os.path.join(toy_base, "1")).meta_graphs[0]
    default = meta_graph.signature_def["serving_default"]
    classify = meta_graph.signature_def["classification"]
    assert classify.method_name == "tensorflow/serving/classify"
    assert list(classify.inputs) == ["inputs"]
    assert classify.inputs["inputs"].name == default.inputs["examples"].name  # same graph, same feed
    assert set(classify.outputs) == {"scores", "classes"}
    assert classify.outputs["scores"].name == default.outputs["probabilities"].name
    assert classify.outputs["classes"].dtype == types_pb2.DT_STRING
    assert [d.size for d in classify.outputs["classes"].tensor_shape.dim] == [-1, 10]
    regress = meta_graph.signature_def["regression"]
    assert regress.method_name == "tensorflow/serving/regress"
    assert list(regress.inputs) == ["inputs"] and list(regress.outputs) == ["outputs"]
    assert {"Tile", "Shape"} <= {op.name for op in meta_graph.meta_info_def.stripped_op_list.op}


def test_edited_model_still_loads_with_tf2_and_fingerprint_matches(toy_base, images):
    path = os.path.join(toy_base, "2")
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["predict_raw"](image=tf.constant(images))
    np.testing.assert_allclose(out["probabilities"].numpy(), toy_model.toy_predict(images, 2), atol=1e-5)
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting
    fresh = fingerprinting.CreateFingerprintDef(path)
    with open(os.path.join(path, "fingerprint.pb"), "rb") as f:
        assert f.read() == fresh


def test_custom_labels_and_bad_arguments(tmp_path, toy_base):
    import shutil
    path = str(tmp_path / "m")
    shutil.copytree(os.path.join(toy_base, "1"), path)
    labels = [f"digit-{i}" for i in range(10)]
    assert signatures.add_classify_regress_signatures(path, class_labels=labels, classification_key="cls") == ["cls"]
    from serving.servable import Servable
    servable = Servable("m", 1, path)
    image = np.arange(64, dtype=np.int64) % 17
    _, out = servable.run("cls", {"inputs": np.array([toy_model.make_example(image)], dtype=object)})
    assert [c.decode() for c in out["classes"][0]] == labels
    with pytest.raises(ValueError, match="2 class_labels for 10 classes"):
        signatures.add_classify_regress_signatures(path, class_labels=["a", "b"])
    with pytest.raises(ValueError, match="unknown signature 'nope'"):
        signatures.add_classify_regress_signatures(path, source_signature="nope")
    with pytest.raises(ValueError, match="DT_STRING"):
        signatures.add_classify_regress_signatures(path, source_signature="predict_raw")
    with pytest.raises(ValueError, match=r"float \[batch\] or \[batch, 1\]"):
        signatures.add_classify_regress_signatures(path, scores_output=None, regression_source="serving_default",
                                                   regression_output="probabilities")

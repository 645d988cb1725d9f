"""TF Serving's SignatureDef conventions, and reading a SavedModel's signatures.

The method names and tensor keys of TF Serving's Predict, Classify and Regress
APIs (``tensorflow/serving/...``). The exporter that writes classify/regress
signatures lives with the Trainer (``components/trainer/signatures.py``).
"""

from __future__ import annotations

import os

from tensorflow.core.protobuf import saved_model_pb2

CLASSIFY_METHOD_NAME = "tensorflow/serving/classify"
REGRESS_METHOD_NAME = "tensorflow/serving/regress"
PREDICT_METHOD_NAME = "tensorflow/serving/predict"
CLASSIFY_INPUTS = "inputs"
CLASSIFY_OUTPUT_CLASSES = "classes"
CLASSIFY_OUTPUT_SCORES = "scores"
REGRESS_INPUTS = "inputs"
REGRESS_OUTPUTS = "outputs"
DEFAULT_SIGNATURE = "serving_default"


def read_saved_model(export_dir: str) -> saved_model_pb2.SavedModel:
    """Parses ``<export_dir>/saved_model.pb``."""
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    return proto

"""Executor: decodes the eval split through the exported ``translate`` signature
and compares the strings with the raw targets."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging
from tfx import types
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components.evaluator.verdict import record_verdict
from components.generative_evaluator import metrics as gm
from components.generative_evaluator.executor import read_examples, write_blessing
from components.seq2seq_evaluator.metrics import corpus_bleu, exact_match

METRICS_FILE = "metrics.json"
BATCH = 256


def _tokens(text: str, char_level: bool) -> list[str]:
    return list(text) if char_level else text.split()


def evaluate(model_dir: str, serialized: Sequence[bytes], signature: str, target_key: str,
             char_level: bool) -> dict[str, float]:
    """``exact_match`` and ``bleu`` of the model's decoded strings on ``serialized``."""
    fn = tf.saved_model.load(model_dir).signatures[signature]
    targets = [tf.train.Example.FromString(r).features.feature[target_key].bytes_list.value[0].decode()
               for r in serialized]
    predictions: list[str] = []
    for start in range(0, len(serialized), BATCH):
        out = fn(examples=tf.constant(list(serialized[start:start + BATCH])))
        predictions += [t.decode("utf-8", "replace") for t in np.asarray(out["translation"]).reshape(-1)]
    return {"exact_match": exact_match(predictions, targets),
            "bleu": corpus_bleu([_tokens(p, char_level) for p in predictions],
                                [_tokens(t, char_level) for t in targets])}


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        thresholds = gm.parse_thresholds(exec_properties.get("thresholds") or "{}")
        split = exec_properties.get("example_split") or "eval"
        serialized = read_examples(artifact_utils.get_single_instance(input_dict["examples"]), split)
        args = (exec_properties.get("signature_name") or "translate", exec_properties["target_key"],
                bool(exec_properties.get("char_level")))

        current = artifact_utils.get_single_instance(input_dict["model"])
        metrics = evaluate(path_utils.serving_model_path(current.uri), serialized, *args)
        baseline_artifact = (input_dict.get("baseline_model") or [None])[0]
        baseline = (evaluate(path_utils.serving_model_path(baseline_artifact.uri), serialized, *args)
                    if baseline_artifact is not None else None)
        blessed, checks = gm.validate(metrics, thresholds, baseline)
        logging.info("seq2seq evaluation: %s; blessed=%s", metrics, blessed)

        evaluation = artifact_utils.get_single_instance(output_dict["evaluation"])
        io_utils.write_string_file(os.path.join(evaluation.uri, METRICS_FILE), json.dumps(
            {"metrics": metrics, "baseline_metrics": baseline, "checks": checks, "blessed": blessed}, indent=2))
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])
        write_blessing(blessing, blessed, current, baseline_artifact)
        record_verdict(evaluation, blessing, metrics, [gm.describe_failure(c) for c in checks if not c["ok"]])

"""Seq2seqEvaluator: blesses a translation model on exact match / BLEU of what it serves.

TFMA's metrics compare a prediction tensor with a label; a seq2seq model's
served output is a decoded string. This component decodes the eval split
through the exported signature (so it judges exactly what TF Serving will
run), checks the pipeline's thresholds and no regression against the blessed
baseline, and writes a ``ModelBlessing`` like TFX's Evaluator.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.generative_evaluator import metrics as gm
from components.generative_evaluator.component import GenerativeEvaluatorSpec
from components.seq2seq_evaluator import executor


class Seq2seqEvaluatorSpec(ComponentSpec):
    PARAMETERS: ClassVar[dict[str, ExecutionParameter]] = {
        "thresholds": ExecutionParameter(type=str),
        "target_key": ExecutionParameter(type=str),
        "signature_name": ExecutionParameter(type=str, optional=True),
        "example_split": ExecutionParameter(type=str, optional=True),
        "char_level": ExecutionParameter(type=int, optional=True),
    }
    # The same artifacts in and out as the generative evaluator (and TFX's Evaluator).
    INPUTS: ClassVar[dict[str, ChannelParameter]] = GenerativeEvaluatorSpec.INPUTS
    OUTPUTS: ClassVar[dict[str, ChannelParameter]] = GenerativeEvaluatorSpec.OUTPUTS


class Seq2seqEvaluator(base_component.BaseComponent):
    """Args: ``thresholds`` as GenerativeEvaluator's (``exact_match``, ``bleu``);
    ``target_key``: the raw target string feature; ``char_level``: BLEU on characters."""

    SPEC_CLASS = Seq2seqEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, examples: types.BaseChannel, target_key: str,
                 thresholds: Mapping[str, Any], baseline_model: types.BaseChannel | None = None,
                 signature_name: str = "translate", example_split: str = "eval", char_level: bool = False) -> None:
        thresholds_json = json.dumps(dict(thresholds))
        gm.parse_thresholds(thresholds_json)  # a bad config fails when the pipeline is built
        super().__init__(spec=Seq2seqEvaluatorSpec(
            model=model, examples=examples, baseline_model=baseline_model, thresholds=thresholds_json,
            target_key=target_key, signature_name=signature_name, example_split=example_split,
            char_level=int(char_level),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing)))

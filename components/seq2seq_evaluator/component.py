"""Seq2seqEvaluator: blesses a translation model on exact match / BLEU of what it serves.

TFMA's metrics compare a prediction tensor with a label; a seq2seq model's
served output is a decoded string. This component decodes the eval split
through the served ``translate`` signature (so it judges exactly what TF
Serving will run), checks the pipeline's thresholds and no regression against
the blessed baseline, and writes a ``ModelBlessing`` like TFX's Evaluator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tfx import types
from tfx.dsl.components.base import executor_spec
from tfx.types.component_spec import ExecutionParameter

from components.evaluator.base import EvaluatorComponent, EvaluatorSpec
from components.seq2seq_evaluator import executor


class Seq2seqEvaluatorSpec(EvaluatorSpec):
    PARAMETERS: ClassVar[dict[str, ExecutionParameter]] = {
        **EvaluatorSpec.PARAMETERS,
        "target_key": ExecutionParameter(type=str),
        "source_key": ExecutionParameter(type=str, optional=True),
        "char_level": ExecutionParameter(type=int, optional=True),
    }


class Seq2seqEvaluator(EvaluatorComponent):
    """Args: see :class:`~components.evaluator.base.EvaluatorComponent` (thresholds
    on ``exact_match``, ``bleu``); ``target_key``/``source_key``: the raw target
    and source string features; ``char_level``: BLEU on characters."""

    SPEC_CLASS = Seq2seqEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, examples: types.BaseChannel, *, target_key: str,
                 thresholds: Any, signature_roles: Mapping[str, str],
                 baseline_model: types.BaseChannel | None = None, source_key: str = "source",
                 example_split: str = "eval", char_level: bool = False) -> None:
        super().__init__(model, examples, thresholds=thresholds, signature_roles=signature_roles,
                         baseline_model=baseline_model, example_split=example_split, target_key=target_key,
                         source_key=source_key, char_level=int(char_level))

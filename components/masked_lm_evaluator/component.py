"""MaskedLMEvaluator: judges a pretraining stage (a BERT-style encoder) on held-out text.

A pretrained encoder has no label TFMA could compare a prediction with. This
component feeds the eval split's sentence pairs to the served signature whose
role is ``masked_lm`` (exported on serialized ``tf.Example``s, so the
tokenizer inside the graph runs exactly as TF Serving will run it), reads the
masked-token hits and next-sentence probabilities it returns, checks the
pipeline's thresholds and no regression against the blessed baseline, and
writes a ``ModelBlessing`` like TFX's Evaluator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from tfx import types
from tfx.dsl.components.base import executor_spec
from tfx.types.component_spec import ExecutionParameter

from components.evaluator.base import EvaluatorComponent, EvaluatorSpec
from components.masked_lm_evaluator import executor


class MaskedLMEvaluatorSpec(EvaluatorSpec):
    PARAMETERS: ClassVar[dict[str, ExecutionParameter]] = {
        **EvaluatorSpec.PARAMETERS,
        "label_key": ExecutionParameter(type=str, optional=True),
        "text_key": ExecutionParameter(type=str, optional=True),
    }


class MaskedLMEvaluator(EvaluatorComponent):
    """Args: see :class:`~components.evaluator.base.EvaluatorComponent` (thresholds
    on ``masked_token_accuracy``, ``next_sentence_accuracy``); ``label_key``: the
    raw next-sentence label (1 = IsNext); ``text_key``: the raw text the report's
    ``fill_mask`` examples are drawn from."""

    SPEC_CLASS = MaskedLMEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, examples: types.BaseChannel, *, thresholds: Any,
                 signature_roles: Mapping[str, str], baseline_model: types.BaseChannel | None = None,
                 label_key: str = "next_sentence", text_key: str = "text_a", example_split: str = "eval") -> None:
        super().__init__(model, examples, thresholds=thresholds, signature_roles=signature_roles,
                         baseline_model=baseline_model, example_split=example_split, label_key=label_key,
                         text_key=text_key)

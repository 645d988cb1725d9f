"""The ServingValidator component definition."""

from __future__ import annotations

from typing import Any

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.serving_validator import executor

MODEL_KEY = "model"
EXAMPLES_KEY = "examples"
BLESSING_KEY = "blessing"


class ServingValidatorSpec(types.ComponentSpec):
    """Inputs: a Model and eval Examples; output: an InfraBlessing."""

    PARAMETERS = {  # TFX ComponentSpec style
        "num_examples": ExecutionParameter(type=int, optional=True),
        "signature_name": ExecutionParameter(type=str, optional=True),
        "split": ExecutionParameter(type=str, optional=True),
        "rtol": ExecutionParameter(type=float, optional=True),
        "make_warmup": ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {
        MODEL_KEY: ChannelParameter(type=standard_artifacts.Model),
        EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples),
    }
    OUTPUTS = {
        BLESSING_KEY: ChannelParameter(type=standard_artifacts.InfraBlessing),
    }


class ServingValidator(base_component.BaseComponent):
    """Blesses a model only if the serving runtime answers real REST and gRPC requests correctly.

    Example::

        validator = ServingValidator(model=trainer.outputs["model"],
                                     examples=example_gen.outputs["examples"])
        pusher = ServingPusher(base, model=trainer.outputs["model"],
                               model_blessing=evaluator.outputs["blessing"],
                               infra_blessing=validator.outputs["blessing"])
    """

    SPEC_CLASS = ServingValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, examples: types.BaseChannel, num_examples: int = 8,
                 signature_name: str = "serving_default", split: str = "eval", rtol: float = 1e-4,
                 make_warmup: bool = True, **kwargs: Any):
        if num_examples < 1:
            raise ValueError(f"num_examples must be >= 1; got {num_examples}")
        spec = ServingValidatorSpec(
            model=model, examples=examples, num_examples=num_examples, signature_name=signature_name,
            split=split, rtol=rtol, make_warmup=int(make_warmup),
            blessing=types.Channel(type=standard_artifacts.InfraBlessing))
        super().__init__(spec=spec, **kwargs)

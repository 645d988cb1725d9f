"""GenerativeEvaluator: a TFX component that validates generative models.

TFMA's classification metrics cannot judge a generator, so this component
evaluates the exported serving signatures of a VAE, GAN or autoencoder (see
``executor.py`` for the metrics), checks the pipeline's thresholds and writes
a ``ModelBlessing`` exactly like TFX's Evaluator, so the stock Pusher's
``model_blessing`` input respects it.

Example (in a pipeline):

    evaluator = GenerativeEvaluator(
        model=trainer.outputs["model"],
        examples=example_gen.outputs["examples"],
        baseline_model=latest_blessed.outputs["model"],
        thresholds={"neg_elbo": {"upper_bound": 30.0}, "no_regression": ["neg_elbo"]},
        cache_dir=os.path.join(pipeline_root, "reference"))
    pusher = tfx.components.Pusher(model=..., model_blessing=evaluator.outputs["blessing"], ...)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.generative_evaluator import executor
from components.generative_evaluator import metrics as gm


class GenerativeEvaluatorSpec(ComponentSpec):
    """Inputs, outputs and execution parameters of :class:`GenerativeEvaluator`."""

    PARAMETERS: ClassVar[dict[str, ExecutionParameter]] = {
        "thresholds": ExecutionParameter(type=str, optional=True),
        "example_split": ExecutionParameter(type=str, optional=True),
        "image_key": ExecutionParameter(type=str, optional=True),
        "label_key": ExecutionParameter(type=str, optional=True),
        "image_scale": ExecutionParameter(type=float, optional=True),
        "num_samples": ExecutionParameter(type=int, optional=True),
        "seed": ExecutionParameter(type=int, optional=True),
        "cache_dir": ExecutionParameter(type=str, optional=True),
        "corruption": ExecutionParameter(type=str, optional=True),
    }
    INPUTS: ClassVar[dict[str, ChannelParameter]] = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "baseline_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS: ClassVar[dict[str, ChannelParameter]] = {
        "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        "blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
    }


class GenerativeEvaluator(base_component.BaseComponent):
    """Evaluates a generative model's served signatures and blesses it or not.

    Args:
        model: the Trainer's model (SavedModel under ``<uri>/Format-Serving``).
        examples: Examples whose ``example_split`` holds raw digits tf.Examples.
        baseline_model: the last blessed model, for ``no_regression`` checks.
        thresholds: ``{metric: {"upper_bound"|"lower_bound": v}, "no_regression":
            [metric, ...] or {metric: tolerance}}`` (dict or JSON string).
        example_split, image_key, label_key, image_scale: where the held-out
            images are and how raw pixels map to [0, 1] (``/255`` by default).
        num_samples, seed: generated samples per evaluation and their seed.
        cache_dir: where the reference digits classifier is cached.
        corruption: ``{"kind": "salt_pepper"|"gaussian"|"occlusion",
            "strength": v}`` for the autoencoder's corrupted digits.
    """

    SPEC_CLASS = GenerativeEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, examples: types.BaseChannel,
                 baseline_model: types.BaseChannel | None = None,
                 thresholds: Mapping[str, Any] | str | None = None, example_split: str = "eval",
                 image_key: str = "image", label_key: str = "label", image_scale: float = 255.0,
                 num_samples: int = 1000, seed: int = 0, cache_dir: str | None = None,
                 corruption: Mapping[str, Any] | str | None = None) -> None:
        thresholds_json = thresholds if isinstance(thresholds, str) else json.dumps(thresholds or {})
        gm.parse_thresholds(thresholds_json)  # a bad config fails when the pipeline is built
        corruption_json = corruption if isinstance(corruption, str) else json.dumps(corruption or {})
        spec = GenerativeEvaluatorSpec(
            model=model, examples=examples, baseline_model=baseline_model,
            thresholds=thresholds_json, example_split=example_split, image_key=image_key, label_key=label_key,
            image_scale=float(image_scale), num_samples=num_samples, seed=seed, cache_dir=cache_dir,
            corruption=corruption_json,
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing))
        super().__init__(spec=spec)

"""GenerativeEvaluator: a TFX component that validates generative models.

TFMA's classification metrics cannot judge a generator, so this component
evaluates the served signatures of a VAE, GAN, (adversarial) autoencoder or
normalizing flow, chosen by the roles the family declares (see
``executor.py`` for the metrics and figures), checks the pipeline's
thresholds and writes a ``ModelBlessing`` exactly like TFX's Evaluator, so
the Pusher's ``model_blessing`` input respects it.

Example (in a pipeline):

    evaluator = GenerativeEvaluator(
        model=trainer.outputs["model"],
        examples=example_gen.outputs["examples"],
        baseline_model=latest_blessed.outputs["model"],
        thresholds=[Threshold("neg_elbo", upper_bound=30.0, higher_is_better=False)],
        signature_roles=family.signature_roles,
        cache_dir=os.path.join(pipeline_root, "reference"))
    pusher = tfx.components.Pusher(model=..., model_blessing=evaluator.outputs["blessing"], ...)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from tfx import types
from tfx.dsl.components.base import executor_spec
from tfx.types.component_spec import ExecutionParameter

from components.evaluator.base import EvaluatorComponent, EvaluatorSpec
from components.generative_evaluator import executor
from components.generative_evaluator.reference import DEFAULT_REFERENCE, resolve


class GenerativeEvaluatorSpec(EvaluatorSpec):
    """The shared evaluator spec plus where the images are and how they are judged."""

    PARAMETERS: ClassVar[dict[str, ExecutionParameter]] = {
        **EvaluatorSpec.PARAMETERS,
        "image_key": ExecutionParameter(type=str, optional=True),
        "label_key": ExecutionParameter(type=str, optional=True),
        "image_scale": ExecutionParameter(type=float, optional=True),
        "image_shape": ExecutionParameter(type=str, optional=True),
        "num_samples": ExecutionParameter(type=int, optional=True),
        "seed": ExecutionParameter(type=int, optional=True),
        "cache_dir": ExecutionParameter(type=str, optional=True),
        "corruption": ExecutionParameter(type=str, optional=True),
        "reference": ExecutionParameter(type=str, optional=True),
    }


class GenerativeEvaluator(EvaluatorComponent):
    """Evaluates a generative model's served signatures and blesses it or not.

    Args:
        model, examples, baseline_model, thresholds, signature_roles,
            example_split: see :class:`~components.evaluator.base.EvaluatorComponent`
            (thresholds on the metrics of ``executor.METRICS``).
        image_key, label_key, image_scale: where the held-out images are and
            how raw pixels map to [0, 1] (``/255`` by default).
        image_shape: the images' shape (the reference's by default).
        num_samples, seed: generated samples per evaluation and their seed.
        cache_dir: where the reference classifier is cached.
        corruption: ``{"kind": "salt_pepper"|"gaussian"|"occlusion",
            "strength": v}`` for the autoencoder's corrupted images.
        reference: dotted path of the function returning the reference
            classifier's data (``ReferenceData``); scikit-learn's digits by default.
    """

    SPEC_CLASS = GenerativeEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, examples: types.BaseChannel, *,
                 signature_roles: Mapping[str, str], baseline_model: types.BaseChannel | None = None,
                 thresholds: Any = None, example_split: str = "eval", image_key: str = "image",
                 label_key: str = "label", image_scale: float = 255.0, image_shape: Sequence[int] | None = None,
                 num_samples: int = 1000, seed: int = 0, cache_dir: str | None = None,
                 corruption: Mapping[str, Any] | str | None = None, reference: str = DEFAULT_REFERENCE) -> None:
        resolve(reference)  # a reference that does not import fails when the pipeline is built
        super().__init__(model, examples, thresholds=thresholds, signature_roles=signature_roles,
                         baseline_model=baseline_model, example_split=example_split, image_key=image_key,
                         label_key=label_key, image_scale=float(image_scale),
                         image_shape=list(image_shape) if image_shape else None, num_samples=num_samples,
                         seed=seed, cache_dir=cache_dir, corruption=corruption or {}, reference=reference)

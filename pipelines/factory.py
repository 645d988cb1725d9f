"""Builds the TFX pipeline for any :class:`~pipelines.config.PipelineConfig`.

    TfdsExampleGen -> StatisticsGen -> SchemaGen|ImportSchemaGen -> ExampleValidator
      -> Transform -> Trainer -> Evaluator (vs. latest blessed model)
                              -> ServingValidator (REST + gRPC canary) -> Pusher

The evaluator follows the model family's ``task`` (``pipelines/evaluators.py``);
everything else is the same for every family. A config that declares a
``pretraining`` stage gets that whole chain twice: the pretraining stage's
(node ids suffixed ``_pretraining``), then its own, whose Trainer starts from
the latest blessed pretrained model (``base_model``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from tfx.components import SchemaGen, StatisticsGen, Trainer, Transform
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.orchestration import metadata
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import trainer_pb2
from tfx.types import Channel, standard_artifacts

from components.example_validator.component import StrictExampleValidator
from components.fingerprint import callable_module, code_fingerprint
from components.pusher.component import ServingPusher
from components.serving_validator.component import ServingValidator
from components.tfds_example_gen.component import TfdsExampleGen
from models import registry as model_registry
from models.base import ModelFamily
from pipelines import nodes
from pipelines.config import PipelineConfig
from pipelines.evaluators import EVALUATORS

TRAINER_RUN_FN = "components.trainer.module.run_fn"


def _evaluator(config: PipelineConfig, family: ModelFamily, examples, model, baseline, pipeline_root: str):
    """The evaluator that judges the family's ``task``."""
    if family.task not in EVALUATORS:
        raise NotImplementedError(f"no evaluator for task '{family.task}'; known: {', '.join(EVALUATORS)}")
    return EVALUATORS[family.task](config, family, examples, model, baseline, pipeline_root)


def _stage(config: PipelineConfig, pipeline_root: str, serving_dir: str, stage: str | None = None,
           base_model: Channel | None = None) -> tuple[list, Trainer]:
    """The components of one stage (ExampleGen to Pusher) and its Trainer.

    ``stage`` names an upstream stage (its node ids get the suffix); ``None`` is
    the pipeline's own, final stage. ``base_model`` starts the Trainer from a
    model of another stage (TFX's ``base_model``).
    """
    family = model_registry.get(config.model)
    family.hparams(config.hparams)  # unknown hyperparameters fail here, before any component runs

    def node_id(node: str) -> str:
        return nodes.staged(node, stage)

    example_gen = TfdsExampleGen(
        dataset=config.dataset.name, version=config.dataset.version,
        splits=dict(config.dataset.splits), builder_modules=list(config.dataset.builder_modules)
    ).with_id(node_id(nodes.EXAMPLE_GEN))
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"]).with_id(node_id(nodes.STATISTICS_GEN))
    if config.schema_path:
        schema_gen = ImportSchemaGen(schema_file=config.schema_path).with_id(node_id(nodes.IMPORT_SCHEMA_GEN))
    else:
        schema_gen = SchemaGen(statistics=statistics_gen.outputs["statistics"],
                               infer_feature_shape=True).with_id(node_id(nodes.SCHEMA_GEN))
    example_validator = StrictExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                               schema=schema_gen.outputs["schema"]
                                               ).with_id(node_id(nodes.EXAMPLE_VALIDATOR))

    transform = Transform(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        preprocessing_fn=config.preprocessing_fn, disable_statistics=True,
        custom_config={**config.transform_config,
                       "code_fingerprint": code_fingerprint([callable_module(config.preprocessing_fn)])}
    ).with_id(node_id(nodes.TRANSFORM))
    transform.add_upstream_node(example_validator)  # never transform data that failed validation

    trainer = Trainer(
        run_fn=TRAINER_RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        base_model=base_model,
        train_args=trainer_pb2.TrainArgs(splits=["train"]),
        eval_args=trainer_pb2.EvalArgs(splits=["eval"]),
        custom_config={
            "model": config.model, "hparams": dict(config.hparams), "label_key": config.label_key,
            "num_classes": config.num_classes, "seed": config.seed,
            # A stage whose model starts another's Trainer also saves it as a Keras file.
            "save_keras": stage is not None,
            # The stage whose blessed model this Trainer starts from (run_fn says so when there is none).
            **({"pretraining_stage": config.pretraining.name} if base_model is not None else {}),
            # The tf.distribute strategy (components/trainer/distribute.py), only when the config names one.
            **({"distribution": config.distribution} if config.distribution else {}),
            "code_fingerprint": code_fingerprint(
                [callable_module(TRAINER_RUN_FN), type(family).__module__]),
        }).with_id(node_id(nodes.TRAINER))

    # The latest model of *this stage's* Trainer that its Evaluator blessed.
    baseline = Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=Channel(type=standard_artifacts.Model, producer_component_id=trainer.id, output_key="model"),
        model_blessing=Channel(type=standard_artifacts.ModelBlessing,
                               producer_component_id=node_id(nodes.EVALUATOR), output_key="blessing"),
    ).with_id(node_id(nodes.BASELINE_RESOLVER))

    evaluator = _evaluator(config, family, example_gen.outputs["examples"], trainer.outputs["model"],
                           baseline.outputs["model"], pipeline_root).with_id(node_id(nodes.EVALUATOR))

    # TFX's InfraValidator needs Docker or Kubernetes; this check loads the
    # candidate in the serving runtime and sends it real REST and gRPC requests.
    serving_validator = ServingValidator(model=trainer.outputs["model"],
                                         examples=example_gen.outputs["examples"]
                                         ).with_id(node_id(nodes.SERVING_VALIDATOR))

    pusher = ServingPusher(
        base_directory=os.path.join(serving_dir, config.model_name),
        model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
        infra_blessing=serving_validator.outputs["blessing"]).with_id(node_id(nodes.PUSHER))

    return [example_gen, statistics_gen, schema_gen, example_validator, transform,
            trainer, baseline, evaluator, serving_validator, pusher], trainer


def create_pipeline(config: PipelineConfig, pipeline_root: str, metadata_path: str,
                    serving_dir: str, beam_pipeline_args: Sequence[str] = (),
                    enable_cache: bool = True) -> Pipeline:
    """The TFX pipeline of ``config``: its stage, after its pretraining stage if it declares one.

    A pretraining stage is a whole stage of its own (its data, Transform,
    Trainer, Evaluator with its own thresholds, serving validation and
    Pusher). The final stage's Trainer starts from the latest pretrained model
    that the pretraining Evaluator blessed, resolved from ML Metadata after
    that Evaluator ran (TFX's ``base_model``). Both stages are cached
    separately: a change to the final stage's model, hyperparameters or data
    re-runs that stage only.
    """
    components: list = []
    base_model = None
    if config.pretraining is not None:
        stage = config.pretraining
        if stage.pretraining is not None:
            raise ValueError(f"pipeline '{config.name}': its pretraining stage '{stage.name}' declares a "
                             "pretraining stage of its own; one pretraining stage is supported")
        upstream, upstream_trainer = _stage(stage, pipeline_root, serving_dir, stage=nodes.PRETRAINING)
        base = Resolver(
            strategy_class=LatestBlessedModelStrategy,
            model=Channel(type=standard_artifacts.Model, producer_component_id=upstream_trainer.id,
                          output_key="model"),
            model_blessing=Channel(type=standard_artifacts.ModelBlessing,
                                   producer_component_id=nodes.staged(nodes.EVALUATOR, nodes.PRETRAINING),
                                   output_key="blessing"),
        ).with_id(nodes.BASE_MODEL_RESOLVER)
        base.add_upstream_node(upstream[components_index(upstream, nodes.staged(nodes.EVALUATOR,
                                                                                nodes.PRETRAINING))])
        components += [*upstream, base]
        base_model = base.outputs["model"]
    own, _ = _stage(config, pipeline_root, serving_dir, base_model=base_model)
    components += own

    return Pipeline(
        pipeline_name=config.name,
        pipeline_root=pipeline_root,
        components=components,
        enable_cache=enable_cache,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            metadata_path),
        beam_pipeline_args=list(beam_pipeline_args))


def components_index(components: Sequence, node_id: str) -> int:
    """Position of the component with id ``node_id`` in ``components``."""
    return [c.id for c in components].index(node_id)

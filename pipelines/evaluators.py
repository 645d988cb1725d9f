"""The evaluator of each task: every one judges a candidate against the latest
blessed baseline and writes a ModelBlessing.

The project's own evaluators pick the signatures they call by the roles the
family declares, and check the thresholds against the metrics they know (an
unknown metric or a contradicting direction fails when the pipeline is built).
A new task is one function here and one line in :data:`EVALUATORS`; every
function takes ``(config, family, examples, model, baseline, pipeline_root)``.
"""

from __future__ import annotations

import os
import re

import tensorflow_model_analysis as tfma

from components.evaluator import blessing
from components.evaluator.component import CONFUSION_MATRIX_PLOT, RecordingEvaluator
from components.evaluator.component import METRICS as TFMA_METRICS
from components.forecast_evaluator.component import ForecastEvaluator
from components.generative_evaluator.component import GenerativeEvaluator
from components.masked_lm_evaluator.component import MaskedLMEvaluator
from components.seq2seq_evaluator.component import Seq2seqEvaluator
from components.super_resolution_evaluator.component import SuperResolutionEvaluator
from models.base import (
    CLASSIFICATION,
    FORECASTING,
    GENERATIVE,
    MASKED_LANGUAGE_MODEL,
    SEQ2SEQ,
    SUPER_RESOLUTION,
    ModelFamily,
)
from pipelines.config import PipelineConfig


def _camel(metric: str) -> str:
    return re.sub(r"(?:^|_)([a-z0-9])", lambda m: m.group(1).upper(), metric)


def _metric_config(metric: str, thresholds: blessing.Thresholds) -> tfma.MetricConfig:
    bounds = {key: {"value": value} for key, value in thresholds.bounds.get(metric, {}).items()}
    change = None
    if metric in thresholds.no_regression:
        higher = thresholds.higher_is_better[metric]
        slack = thresholds.no_regression[metric] or 1e-10  # an exact tie passes
        change = tfma.GenericChangeThreshold(
            direction=tfma.MetricDirection.HIGHER_IS_BETTER if higher else tfma.MetricDirection.LOWER_IS_BETTER,
            absolute={"value": -slack if higher else slack})
    # Thresholds apply to the overall slice only, never to each label slice.
    return tfma.MetricConfig(
        class_name=_camel(metric),
        per_slice_thresholds=[tfma.PerSliceMetricThreshold(
            slicing_specs=[tfma.SlicingSpec()],
            threshold=tfma.MetricThreshold(
                value_threshold=tfma.GenericValueThreshold(**bounds) if bounds else None,
                change_threshold=change))])


def eval_config(config: PipelineConfig) -> tfma.EvalConfig:
    """TFMA config for a classifier: thresholds on the overall slice, label slices reported,
    and the confusion matrix the Evaluator writes as a figure for the report.

    A threshold on a metric whose direction the project knows (``components.evaluator.component.METRICS``)
    that says otherwise fails here, when the pipeline is built.
    """
    thresholds = blessing.parse_thresholds(config.thresholds, TFMA_METRICS, any_metric=True)
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(label_key=config.label_key, signature_name="serving_default",
                                    prediction_key="probabilities")],
        slicing_specs=[tfma.SlicingSpec()] + [tfma.SlicingSpec(feature_keys=[f])
                                              for f in config.slice_features],
        metrics_specs=[tfma.MetricsSpec(metrics=[tfma.MetricConfig(class_name="ExampleCount"),
                                                 tfma.MetricConfig(class_name=CONFUSION_MATRIX_PLOT)]
                                        + [_metric_config(m, thresholds) for m in thresholds.metrics])])


def _classification_evaluator(config: PipelineConfig, family: ModelFamily, examples, model, baseline,
                              pipeline_root: str):
    return RecordingEvaluator(examples=examples, model=model, baseline_model=baseline,
                              eval_config=eval_config(config), example_splits=["eval"])


def _judging(config: PipelineConfig, family: ModelFamily, examples, model, baseline) -> dict:
    """What every custom evaluator component takes: the candidate, the eval examples, the blessed
    baseline, the pipeline's thresholds and the family's signature roles."""
    return dict(model=model, examples=examples, baseline_model=baseline, thresholds=config.thresholds,
                signature_roles=dict(family.signature_roles))


def _generative_evaluator(config: PipelineConfig, family: ModelFamily, examples, model, baseline,
                          pipeline_root: str):
    options = config.transform_config
    return GenerativeEvaluator(**_judging(config, family, examples, model, baseline),
                               image_key=options.get("image_key", "image"),
                               label_key=config.label_key or "label",
                               image_scale=float(options.get("max_value", 255)),
                               image_shape=options.get("image_shape"),
                               cache_dir=os.path.join(pipeline_root, "reference_classifier"))


def _seq2seq_evaluator(config: PipelineConfig, family: ModelFamily, examples, model, baseline,
                       pipeline_root: str):
    options = config.transform_config
    return Seq2seqEvaluator(**_judging(config, family, examples, model, baseline),
                            target_key=config.label_key, source_key=options.get("source_key", "source"),
                            char_level=options.get("target_tokenizer", options.get("tokenizer")) == "char")


def _masked_lm_evaluator(config: PipelineConfig, family: ModelFamily, examples, model, baseline,
                         pipeline_root: str):
    text_keys = config.transform_config.get("text_keys") or ["text_a"]
    return MaskedLMEvaluator(**_judging(config, family, examples, model, baseline),
                             label_key=config.label_key or "next_sentence", text_key=text_keys[0])


def _forecasting_evaluator(config: PipelineConfig, family: ModelFamily, examples, model, baseline,
                            pipeline_root: str):
    options = config.transform_config
    return ForecastEvaluator(**_judging(config, family, examples, model, baseline),
                             past_key=options.get("past_key", "past"),
                             future_key=options.get("future_key", config.label_key or "future"))


def _super_resolution_evaluator(config: PipelineConfig, family: ModelFamily, examples, model, baseline,
                                pipeline_root: str):
    options = config.transform_config
    return SuperResolutionEvaluator(**_judging(config, family, examples, model, baseline),
                                    high_res_key=options.get("high_res_key", "high_res"),
                                    low_res_key=options.get("low_res_key", "low_res"),
                                    high_res_shape=options["high_res_shape"], low_res_shape=options["low_res_shape"],
                                    max_value=float(options.get("max_value", 255)))


EVALUATORS = {
    CLASSIFICATION: _classification_evaluator,
    GENERATIVE: _generative_evaluator,
    SEQ2SEQ: _seq2seq_evaluator,
    MASKED_LANGUAGE_MODEL: _masked_lm_evaluator,
    FORECASTING: _forecasting_evaluator,
    SUPER_RESOLUTION: _super_resolution_evaluator,
}



"""The node ids of the pipeline that ``pipelines/factory.py`` builds.

``zoo runs``, the report and the tests find a component's outputs in ML
Metadata by these ids; the factory gives every component its id from here.
"""

EXAMPLE_GEN = "TfdsExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "SchemaGen"
IMPORT_SCHEMA_GEN = "ImportSchemaGen"
EXAMPLE_VALIDATOR = "ExampleValidator"
TRANSFORM = "Transform"
TRAINER = "Trainer"
BASELINE_RESOLVER = "latest_blessed_model_resolver"
EVALUATOR = "Evaluator"
SERVING_VALIDATOR = "ServingValidator"
PUSHER = "Pusher"
BASE_MODEL_RESOLVER = "latest_blessed_pretrained_model_resolver"

# A pipeline's upstream stage: its nodes are the ones above, ids suffixed.
PRETRAINING = "pretraining"


def staged(node: str, stage: str | None) -> str:
    """The id of ``node`` in ``stage`` (``None``: the pipeline's own, final stage).

    >>> staged(TRAINER, None), staged(TRAINER, PRETRAINING)
    ('Trainer', 'Trainer_pretraining')
    """
    return node if stage is None else f"{node}_{stage}"

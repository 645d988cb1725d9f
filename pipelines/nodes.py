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

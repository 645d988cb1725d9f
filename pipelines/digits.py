"""Handwritten digits -> CNN: the default pipeline.

Data: the ``digits`` TFDS builder (scikit-learn's bundled 8x8 digits, no
download). ``mnist`` works the same way where TFDS can download it: set
``dataset=DatasetConfig("mnist")`` and ``image_shape=[28, 28, 1]``.
"""

import os

from pipelines.config import DatasetConfig, PipelineConfig, Threshold

CONFIG = PipelineConfig(
    name="digits",
    description="8x8 handwritten digits (TFDS 'digits') -> CNN classifier, blessed at accuracy >= 0.97",
    dataset=DatasetConfig("digits", splits={"train": "train", "eval": "test"}),
    preprocessing_fn="components.transforms.image.preprocessing_fn",
    transform_config={"image_key": "image", "label_key": "label", "image_shape": [8, 8, 1],
                      "max_value": 255},
    model="cnn",
    hparams={},
    label_key="label",
    num_classes=10,
    thresholds=(Threshold("sparse_categorical_accuracy", lower_bound=0.97),),
    schema_path=os.path.join(os.path.dirname(__file__), "schemas", "digits", "schema.pbtxt"),
    slice_features=("label",),
    serving_model_name="digits_cnn",
)

"""Text pipelines that serve raw strings: a stacked bidirectional RNN classifier
and an attention seq2seq model.

Offline defaults are the project's generated TFDS datasets (``zoo_reviews``:
sentiment that hinges on word order and negation scope; ``zoo_dates``: dates in
many human formats to ISO ``YYYY-MM-DD``). The real datasets go through the
same path where TFDS can download them: ``imdb_reviews/plain_text`` (same
features as ``zoo_reviews``; raise ``max_length``) and
``ted_hrlr_translate/pt_to_en`` (``source_key="pt"``, ``target_key="en"``,
``label_key="en"``). Tokenisation and vocabularies live in the Transform.
"""

from pipelines.config import DatasetConfig, PipelineConfig, Threshold

REVIEWS = PipelineConfig(
    name="reviews",
    description="zoo_reviews (order/negation-dependent sentiment) -> stacked Bi-LSTM, accuracy >= 0.95",
    dataset=DatasetConfig("zoo_reviews", splits={"train": "train", "eval": "test"}),
    preprocessing_fn="components.transforms.text.preprocessing_fn",
    transform_config={"text_key": "text", "label_key": "label", "max_length": 72},
    model="rnn",
    hparams={"epochs": 15},
    label_key="label",
    num_classes=2,
    thresholds=(Threshold("sparse_categorical_accuracy", lower_bound=0.95),),
    slice_features=("label",),
    serving_model_name="reviews_rnn",
)

DATES = PipelineConfig(
    name="dates",
    description="zoo_dates (human-written dates -> ISO) -> attention seq2seq, exact match >= 0.97",
    dataset=DatasetConfig("zoo_dates", splits={"train": "train", "eval": "test"}),
    preprocessing_fn="components.transforms.translation.preprocessing_fn",
    transform_config={"tokenizer": "char", "max_source_length": 40, "max_target_length": 10},
    model="seq2seq",
    hparams={"output_separator": "", "max_decode_length": 11, "epochs": 5},
    label_key="target",
    num_classes=None,
    thresholds=(Threshold("exact_match", lower_bound=0.97),),
    serving_model_name="dates_seq2seq",
)

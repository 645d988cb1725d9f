"""Quality bars of the sequence families on the offline corpora, with their baselines.

* reviews (``datasets.reviews``): Bi-LSTM and Bi-GRU held-out accuracy
  beside a bag-of-words logistic regression on the same tokens and split;
* dates (``datasets.dates``): seq2seq held-out exact match with Bahdanau
  attention, Luong attention and none.

Raw strings go through the project's Transform ``preprocessing_fn``s
(tensorflow-transform on Beam's DirectRunner), exactly as in the pipelines,
then the families' own ``build``/``train``. Run::

    python benchmarks/text_baselines.py                 # everything (CPU: ~30 min)
    python benchmarks/text_baselines.py --task reviews --models lstm
    python benchmarks/text_baselines.py --task dates --models bahdanau,none --epochs 5
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

REVIEWS_CONFIG = {"text_key": "text", "label_key": "label", "max_length": 72}
DATES_CONFIG = {"source_key": "source", "target_key": "target", "tokenizer": "char",
                "max_source_length": 40, "max_target_length": 10}


def run_transform(preprocessing_fn: Callable, config: Mapping[str, Any], raw_spec: Mapping[str, Any],
                  splits: Mapping[str, Sequence[Mapping[str, Any]]], workdir: str) -> tuple[dict, Any]:
    """Analyzes ``splits["train"]`` and transforms every split; returns numpy columns and the output."""
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(raw_spec))
    def encode(rows: list[dict]) -> list[dict]:
        return [{k: (v.encode() if isinstance(v, str) else v) for k, v in r.items()} for r in rows]
    columns = {}
    with tft_beam.Context(temp_dir=os.path.join(workdir, "beam")):
        (train, _), transform_fn = (encode(splits["train"]), metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, config), output_record_batches=False)
        _ = transform_fn | tft_beam.WriteTransformFn(os.path.join(workdir, "transform"))
        columns["train"] = train
        for name in splits:
            if name != "train":
                columns[name], _ = (((encode(splits[name]), metadata), transform_fn)
                                    | f"Transform{name}" >> tft_beam.TransformDataset(output_record_batches=False))
    stacked = {name: {k: np.stack([row[k] for row in rows]) for k in rows[0]} for name, rows in columns.items()}
    # Beam's Transform leaves the random state different from run to run: seed again so
    # the models that follow start the same every time.
    import keras
    keras.utils.set_random_seed(0)
    return stacked, tft.TFTransformOutput(os.path.join(workdir, "transform"))


def data_spec(columns: Mapping[str, np.ndarray], label_key: str, num_classes: int | None, output: Any) -> Any:
    from models.base import DataSpec, FeatureInfo

    names = sorted(os.listdir(os.path.join(output.transform_savedmodel_dir, "assets")))
    features = {k: FeatureInfo(v.shape[1:], v.dtype.name) for k, v in columns.items() if k != label_key}
    extras = {"vocab_sizes": {n: output.vocabulary_size_by_name(n) for n in names},
              "vocab_files": {n: output.vocabulary_file_by_name(n) for n in names}}
    return DataSpec(features, label_key, num_classes, extras)


def batches(columns: Mapping[str, np.ndarray], label_key: str, batch_size: int, shuffle: bool) -> Any:
    import tensorflow as tf

    features = {k: v for k, v in columns.items() if k != label_key}
    ds = tf.data.Dataset.from_tensor_slices((features, columns[label_key]))
    if shuffle:
        ds = ds.shuffle(len(columns[label_key]), seed=0, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def bag_of_words_accuracy(train: Mapping[str, np.ndarray], test: Mapping[str, np.ndarray],
                          key: str, label_key: str, vocab: int) -> float:
    """Logistic regression on token counts (the ids the sequence model sees, order dropped)."""
    from sklearn.linear_model import LogisticRegression

    def counts(ids: np.ndarray) -> np.ndarray:
        bag = np.zeros((len(ids), vocab), np.float32)
        for row, tokens in enumerate(ids):
            np.add.at(bag[row], tokens[tokens > 0], 1.0)
        return bag

    model = LogisticRegression(max_iter=2000, C=1.0)
    model.fit(counts(train[key]), train[label_key])
    return float(model.score(counts(test[key]), test[label_key]))


def in_graph_decoder(model: Any, hparams: Any, beam: bool) -> Callable[[Any], Any]:
    """``models.seq2seq.decode`` as one ``tf.function`` of the source ids (decoded ids out).

    The model and hyperparameters are closed over, not passed as arguments:
    tf.function cannot key its trace cache on an (unhashable) hyperparameter
    dataclass.
    """
    import tensorflow as tf

    from models.seq2seq import decode

    @tf.function
    def decoded(source_ids: Any) -> Any:
        return decode(model, hparams, source_ids, beam=beam)["ids"]

    return decoded


def reviews(args: argparse.Namespace, workdir: str) -> None:
    import tensorflow as tf

    from components.transforms import text
    from datasets import reviews as corpus
    from models import registry as models

    raw_spec = {"text": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}
    start = time.time()
    columns, output = run_transform(text.preprocessing_fn, REVIEWS_CONFIG, raw_spec, corpus.splits(), workdir)
    data = data_spec(columns["train"], "label", 2, output)
    print(f"reviews: {len(columns['train']['label'])} train / {len(columns['test']['label'])} test, "
          f"vocabulary {data.extras['vocab_sizes']['text']}, transform {time.time() - start:.0f}s", flush=True)
    bow = bag_of_words_accuracy(columns["train"], columns["test"], "text_ids", "label",
                                data.extras["vocab_sizes"]["text"])
    print(f"reviews  bag-of-words logistic regression  test accuracy {bow:.4f}", flush=True)
    family = models.get("rnn")
    for cell in args.models or ("lstm", "gru"):
        hp = family.hparams({"cell": cell, "units": 64, "embedding_dim": 64, "epochs": args.epochs or 15,
                             "dropout": 0.2, "batch_size": 64})
        model = family.build(hp, data)
        start = time.time()
        family.train(model, hp, batches(columns["train"], "label", hp.batch_size, True),
                     batches(columns["test"], "label", 256, False))
        _, accuracy = model.evaluate(batches(columns["test"], "label", 256, False), verbose=0)
        print(f"reviews  bi-{cell:<4} test accuracy {accuracy:.4f}  ({hp.epochs} epochs, "
              f"{time.time() - start:.0f}s)", flush=True)


def dates(args: argparse.Namespace, workdir: str) -> None:
    import tensorflow as tf

    from components.transforms import translation
    from datasets import dates as corpus
    from models import registry as models
    from models.seq2seq import exact_match

    raw_spec = {"source": tf.io.FixedLenFeature([], tf.string), "target": tf.io.FixedLenFeature([], tf.string)}
    start = time.time()
    columns, output = run_transform(translation.preprocessing_fn, DATES_CONFIG, raw_spec, corpus.splits(), workdir)
    data = data_spec(columns["train"], "target", None, output)
    print(f"dates: {len(columns['train']['target'])} train / {len(columns['test']['target'])} test, "
          f"vocabularies {data.extras['vocab_sizes']}, transform {time.time() - start:.0f}s", flush=True)
    family = models.get("seq2seq")
    test = columns["test"]
    for attention in args.models or ("bahdanau", "luong", "none"):
        hp = family.hparams({"attention": attention, "units": 128, "embedding_dim": 32,
                             "epochs": args.epochs or 5, "batch_size": 64, "output_separator": "",
                             "max_decode_length": DATES_CONFIG["max_target_length"] + 1})
        model = family.build(hp, data)
        start = time.time()
        family.train(model, hp, batches(columns["train"], "target", hp.batch_size, True), None)
        seconds = time.time() - start
        scores = {}
        for beam in (False, True):
            decoded = in_graph_decoder(model, hp, beam)
            predicted = np.concatenate([decoded(tf.constant(test["source_ids"][i:i + 500]))
                                        for i in range(0, len(test["source_ids"]), 500)])
            scores[beam] = float(np.mean(exact_match(predicted, test["target"])))
        print(f"dates    attention={attention:<8} test exact match greedy {scores[False]:.4f} "
              f"beam-{hp.beam_width} {scores[True]:.4f}  ({hp.epochs} epochs, {seconds:.0f}s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=("reviews", "dates", "all"), default="all")
    parser.add_argument("--models", type=lambda s: [m for m in s.split(",") if m],
                        help="reviews: lstm,gru; dates: bahdanau,luong,none")
    parser.add_argument("--epochs", type=int, default=0, help="0: the task's default")
    args = parser.parse_args()
    import keras

    keras.utils.set_random_seed(0)
    with tempfile.TemporaryDirectory() as workdir:
        if args.task in ("reviews", "all"):
            reviews(args, workdir)
        if args.task in ("dates", "all"):
            dates(args, os.path.join(workdir, "dates"))


if __name__ == "__main__":
    main()

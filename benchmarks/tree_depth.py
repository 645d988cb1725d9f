"""Recursive network vs stacked Bi-GRU on arithmetic expression trees: accuracy by tree depth.

Both models learn the value mod 10 of the ``zoo_expressions`` trees (the
builder's own corpus, ``datasets.expressions.splits``: train on heights 1-4)
and are measured on held-out trees of the training heights (``validation``)
and on the deeper ``test`` trees (heights 5-7), per height:

* ``recursive_nn`` (``models/tree.py``) on the tree features of the pipeline's
  Transform featurisation (``components.transforms.tree.tree_features``);
* ``rnn`` with ``cell="gru"`` (stacked Bi-GRU, ``models/rnn.py``) on the same
  trees flattened to their parenthesised infix token sequence.

Same vocabulary (from the training tokens), same epochs, batch size and seed.
What is measured: accuracy (exact match of the predicted residue) per root
height; the anchor is the majority class of the training labels.

    .venv/bin/python benchmarks/tree_depth.py [--epochs 20] [--train-size 20000]

Measured (``--epochs 10 --train-size 10000 --eval-size 1000``, 2 shared CPU cores): accuracy on
the training heights 0.301 (recursive) vs 0.294 (Bi-GRU), majority 0.190; on the deeper trees
0.331 vs 0.267, majority 0.236 (heights 5/6/7: 0.330/0.307/0.353 vs 0.280/0.250/0.270);
training 205 s vs 1407 s. Neither model learns the mod-10 tables of ``+ - *`` from root labels
in this budget; the recursive network keeps its accuracy on deeper trees, the sequence model
falls towards the majority class.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras
import numpy as np
import tensorflow as tf

from components.transforms.tree import tree_features
from datasets import expressions
from models import registry
from models.base import DataSpec, FeatureInfo
from models.features import tree as contract

SEQUENCE = "expression_ids"


def vocabulary(examples: list[dict]) -> list[str]:
    tokens = {t for e in examples for key in (contract.NODES, contract.EXPRESSION) for t in e[key].split()}
    return [*contract.RESERVED_TOKENS, *sorted(tokens)]


def featurize(examples: list[dict], vocab: list[str]) -> dict[str, np.ndarray]:
    """Tree features and sequence ids, padded to the split's own largest tree and sequence."""
    max_nodes = max(len(e[contract.NODES].split()) for e in examples)
    max_length = max(len(e[contract.EXPRESSION].split()) for e in examples)
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        tf.constant(vocab), tf.range(len(vocab), dtype=tf.int64)), default_value=contract.UNK_ID)

    def lookup(tokens: tf.RaggedTensor) -> tf.RaggedTensor:
        return tf.ragged.map_flat_values(table.lookup, tokens)

    column = {k: tf.constant([e[k] for e in examples]) for k in (contract.NODES, contract.LEFT, contract.RIGHT)}
    features = {k: v.numpy() for k, v in tree_features(column[contract.NODES], column[contract.LEFT],
                                                        column[contract.RIGHT], lookup, max_nodes).items()}
    sequence = lookup(tf.strings.split(tf.constant([e[contract.EXPRESSION] for e in examples])))
    features[SEQUENCE] = sequence.to_tensor(contract.PAD_ID, shape=[None, max_length]).numpy()
    features[contract.LABEL] = np.array([e[contract.LABEL] for e in examples], np.int64)
    features[contract.DEPTH] = np.array([e[contract.DEPTH] for e in examples], np.int64)
    return features


def train(name: str, overrides: dict, keys: tuple[str, ...], features: dict, vocab_size: int,
          splits: dict[str, dict[str, np.ndarray]]) -> tuple[keras.Model, float]:
    family = registry.get(name)
    hparams = family.hparams(overrides)
    data = DataSpec({k: FeatureInfo((None,), "int64") for k in keys}, contract.LABEL, 10,
                    extras={"vocab_sizes": {"tokens": vocab_size}})
    keras.utils.set_random_seed(hparams.seed)
    model = family.build(hparams, data)

    def dataset(split: dict[str, np.ndarray], shuffle: bool) -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices(({k: split[k] for k in keys}, split[contract.LABEL]))
        if shuffle:
            ds = ds.shuffle(len(split[contract.LABEL]), seed=hparams.seed)
        return ds.batch(hparams.batch_size)

    start = time.perf_counter()
    family.train(model, hparams, dataset(features, True), dataset(splits["validation"], False))
    return model, time.perf_counter() - start


def by_depth(model: keras.Model, keys: tuple[str, ...], split: dict[str, np.ndarray]) -> dict[int, float]:
    predicted = np.argmax(model.predict({k: split[k] for k in keys}, batch_size=256, verbose=0), axis=-1)
    hits = predicted == split[contract.LABEL]
    return {int(d): float(hits[split[contract.DEPTH] == d].mean()) for d in np.unique(split[contract.DEPTH])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-size", type=int, default=expressions.TRAIN_SIZE)
    parser.add_argument("--eval-size", type=int, default=expressions.TEST_SIZE)
    parser.add_argument("--hparam", action="append", default=[], metavar="NAME=VALUE",
                        help="a recursive_nn hyperparameter (int values), repeatable")
    parser.add_argument("--models", default="recursive_nn,bi_gru", help="comma-separated subset to run")
    args = parser.parse_args(argv)

    corpus = expressions.splits(args.train_size, args.eval_size, args.eval_size)
    vocab = vocabulary(corpus["train"])
    splits = {name: featurize(examples, vocab) for name, examples in corpus.items()}
    common = {"epochs": args.epochs, "batch_size": args.batch_size, "vocab_size": len(vocab)}
    models = {
        "recursive_nn": ("recursive_nn", {**common, **{k: int(v) for k, v in (h.split("=", 1) for h in args.hparam)}},
                         contract.INPUTS),
        "bi_gru": ("rnn", {**common, "cell": "gru", "depth": 2, "units": 64, "embedding_dim": 32,
                           "text_feature": SEQUENCE}, (SEQUENCE,)),
    }
    models = {m: models[m] for m in args.models.split(",")}
    counts = collections.Counter(splits["train"][contract.LABEL].tolist())
    majority = counts.most_common(1)[0][0]
    results, seconds = {}, {}
    for label, (name, overrides, keys) in models.items():
        model, seconds[label] = train(name, overrides, keys, splits["train"], len(vocab), splits)
        results[label] = {split: by_depth(model, keys, splits[split]) for split in ("validation", "test")}

    print(f"\nexpression trees, value mod 10; train {args.train_size} trees of heights "
          f"1-{expressions.TRAIN_MAX_DEPTH}, "
          f"{args.epochs} epochs, batch {args.batch_size}")
    print(f"{'split':<11}{'height':>7}{'trees':>7}{'majority':>10}" + "".join(f"{m:>14}" for m in models))
    for split in ("validation", "test"):
        depths = splits[split][contract.DEPTH]
        for depth in sorted(set(depths.tolist())):
            mask = depths == depth
            anchor = float(np.mean(splits[split][contract.LABEL][mask] == majority))
            print(f"{split:<11}{depth:>7}{int(mask.sum()):>7}{anchor:>10.3f}"
                  + "".join(f"{results[m][split][depth]:>14.3f}" for m in models))
        overall = {m: float(np.average(list(results[m][split].values()),
                                       weights=[np.sum(depths == d) for d in results[m][split]])) for m in models}
        print(f"{split:<11}{'all':>7}{len(depths):>7}{np.mean(splits[split][contract.LABEL] == majority):>10.3f}"
              + "".join(f"{overall[m]:>14.3f}" for m in models))
    print(f"{'train s':<35}" + "".join(f"{seconds[m]:>14.1f}" for m in models))


if __name__ == "__main__":
    main()

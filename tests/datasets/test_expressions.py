"""The expression-tree corpus: exact labels, deeper held-out trees, determinism, and trees the Transform accepts."""

from __future__ import annotations

import ast
import operator

import numpy as np
import pytest
import tensorflow as tf

from components.transforms.tree import tree_features
from datasets import expressions
from models.features import tree as contract

SIZES = {"train_size": 600, "validation_size": 100, "test_size": 100}
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[dict]]:
    return expressions.splits(**SIZES)


def _eval_infix(text: str) -> int:
    """The value of the flattened expression, by Python's own parser (no tree code of the builder)."""
    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Constant):
            return node.value
        return _OPS[type(node.op)](value(node.left), value(node.right))
    return value(ast.parse(text, mode="eval").body)


def _eval_post_order(example: dict) -> tuple[int, int]:
    """(value, height) of the root from the post-order nodes and child indices alone."""
    tokens = example["nodes"].split()
    left, right = (list(map(int, example[k].split())) for k in ("left", "right"))
    values, heights = [], []
    for token, a, b in zip(tokens, left, right):
        if a == -1:
            assert b == -1 and token.isdigit(), example
            values.append(int(token))
            heights.append(0)
        else:
            values.append({"+": operator.add, "-": operator.sub, "*": operator.mul}[token](values[a], values[b]))
            heights.append(1 + max(heights[a], heights[b]))
    return values[-1], heights[-1]


def test_labels_are_exactly_the_evaluated_values_mod_10(corpus):
    seen = set()
    for examples in corpus.values():
        for example in examples:
            value, height = _eval_post_order(example)
            assert value == _eval_infix(example["expression"]), example
            assert example["label"] == value % 10 and 0 <= example["label"] <= 9, example
            assert example["depth"] == height, example
            seen.add(example["label"])
    assert seen == set(range(10))


def test_held_out_trees_are_deeper_than_training_and_splits_are_disjoint(corpus):
    train_depths = {e["depth"] for e in corpus["train"]} | {e["depth"] for e in corpus["validation"]}
    test_depths = {e["depth"] for e in corpus["test"]}
    assert train_depths == set(range(1, expressions.TRAIN_MAX_DEPTH + 1))
    assert test_depths == set(range(expressions.TRAIN_MAX_DEPTH + 1, expressions.TEST_MAX_DEPTH + 1))
    assert min(test_depths) > max(train_depths)
    keys = {name: {e["expression"] for e in examples} for name, examples in corpus.items()}
    assert not keys["train"] & keys["validation"] and not keys["train"] & keys["test"]
    assert all(len(keys[name]) == len(corpus[name]) for name in corpus)
    assert max(len(e["nodes"].split()) for e in corpus["test"]) <= expressions.MAX_NODES


def test_generation_is_deterministic(corpus):
    assert expressions.splits(**SIZES) == corpus
    assert expressions.generate(50, seed=1) != expressions.generate(50, seed=2)


def test_raw_names_are_the_feature_contract(corpus):
    assert set(corpus["train"][0]) == {contract.NODES, contract.LEFT, contract.RIGHT, contract.EXPRESSION,
                                       contract.DEPTH, contract.LABEL}
    assert (expressions.MAX_NODES, expressions.NO_CHILD) == (contract.MAX_NODES, contract.NO_CHILD)


def _lookup(tokens: tf.RaggedTensor) -> tf.RaggedTensor:
    vocab = tf.constant(["<pad>", "<unk>", "+", "-", "*", *map(str, range(10))])
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
        vocab, tf.range(15, dtype=tf.int64)), default_value=contract.UNK_ID)
    return tf.ragged.map_flat_values(table.lookup, tokens)


def _features(rows: list[dict], max_nodes: int = contract.MAX_NODES) -> dict[str, np.ndarray]:
    columns = [tf.constant([r[k] for r in rows]) for k in (contract.NODES, contract.LEFT, contract.RIGHT)]
    return {k: v.numpy() for k, v in tree_features(*columns, _lookup, max_nodes).items()}


def test_the_transform_accepts_every_generated_tree_and_its_levels_are_heights(corpus):
    rows = corpus["test"][:50] + corpus["train"][:50]
    features = _features(rows)
    for i, row in enumerate(rows):
        n = len(row["nodes"].split())
        assert features[contract.LEVELS][i, n - 1] == row["depth"]
        assert np.all(features[contract.LEVELS][i, n:] == -1) and np.all(features[contract.NODE_IDS][i, n:] == 0)
        assert np.all(features[contract.NODE_IDS][i, :n] >= 2)


@pytest.mark.parametrize("tree, message", [
    ({"nodes": "1 2 +", "left": "-1 -1 2", "right": "-1 -1 1"}, "at or after its parent"),  # a cycle
    ({"nodes": "1 2 +", "left": "-1 -1 0", "right": "-1 -1 7"}, "out of range"),
    ({"nodes": "1 2 +", "left": "-1 -1 0", "right": "-1 -1 0"}, "exactly one parent"),  # a DAG
    ({"nodes": "1 2 + 3", "left": "-1 -1 0 -1", "right": "-1 -1 1 -1"}, "exactly one parent"),  # a forest
    ({"nodes": "1 2 +", "left": "-1 -1", "right": "-1 -1 1"}, "one child index per node"),
    ({"nodes": "", "left": "", "right": ""}, "1 to 4 nodes"),
    ({"nodes": "1 2 + 3 *", "left": "-1 -1 0 -1 2", "right": "-1 -1 1 -1 3"}, "1 to 4 nodes"),
    ({"nodes": "1 2 +", "left": "-1 -1 x", "right": "-1 -1 1"}, "StringToNumberOp"),
])
def test_the_transform_refuses_what_is_not_a_tree(tree, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        _features([tree], max_nodes=4)

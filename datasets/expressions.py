"""Arithmetic expression trees generated from a grammar, labelled with their exact value mod 10.

Grammar: ``E -> digit | E op E`` with digits ``0``-``9`` and ``op`` in ``+ - *``.
A tree of height ``h`` (a leaf has height 0) has an operator at its root, one
child of height ``h - 1`` and the other of a random height below ``h``, on a
random side. The label is the tree's value (Python integers, exact) mod 10,
always in ``0..9``.

Splits (deterministic, fixed seeds; no expression occurs in two splits):

* ``train``: heights 1 to :data:`TRAIN_MAX_DEPTH`;
* ``validation``: the same heights, other trees;
* ``test``: deeper trees only, heights ``TRAIN_MAX_DEPTH + 1`` to :data:`TEST_MAX_DEPTH`.

Every tree has at most :data:`MAX_NODES` nodes. An example (the raw side of
the contract in ``models/features/tree.py``; this module imports no model code)::

    {"nodes": "3 4 + 2 *", "left": "-1 -1 0 -1 2", "right": "-1 -1 1 -1 3",
     "expression": "( 3 + 4 ) * 2", "depth": 2, "label": 4}

>>> import random
>>> tree = random_tree(random.Random(0), 2)
>>> tree.height, tree.value() == eval(tree.infix())
(2, True)
>>> serialize(Tree("*", Tree("+", Tree("3"), Tree("4")), Tree("2")))["nodes"]
'3 4 + 2 *'
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any, ClassVar

import numpy as np
import tensorflow_datasets as tfds

from datasets import is_registered
from datasets.generated import GeneratedBuilder, disjoint_splits, distinct

DIGITS = tuple(str(d) for d in range(10))
OPERATORS = ("+", "-", "*")
MODULUS = 10
TRAIN_MAX_DEPTH, TEST_MAX_DEPTH = 4, 7
TRAIN_SIZE, VALIDATION_SIZE, TEST_SIZE = 20000, 2000, 2000
MAX_NODES = 64
NO_CHILD = -1


@dataclasses.dataclass(frozen=True)
class Tree:
    """An expression tree: a digit leaf or a binary operator over two subtrees."""

    token: str
    left: Tree | None = None
    right: Tree | None = None

    @property
    def height(self) -> int:
        return 0 if self.left is None else 1 + max(self.left.height, self.right.height)

    @property
    def size(self) -> int:
        return 1 if self.left is None else 1 + self.left.size + self.right.size

    def value(self) -> int:
        if self.left is None:
            return int(self.token)
        a, b = self.left.value(), self.right.value()
        return a + b if self.token == "+" else a - b if self.token == "-" else a * b

    def infix(self, top: bool = True) -> str:
        """Space-separated infix tokens, every operation but the outermost in parentheses."""
        if self.left is None:
            return self.token
        text = f"{self.left.infix(False)} {self.token} {self.right.infix(False)}"
        return text if top else f"( {text} )"


def random_tree(rng: random.Random, height: int) -> Tree:
    """A random tree of exactly ``height``."""
    if height == 0:
        return Tree(rng.choice(DIGITS))
    tall, other = random_tree(rng, height - 1), random_tree(rng, rng.randrange(height))
    left, right = (tall, other) if rng.random() < 0.5 else (other, tall)
    return Tree(rng.choice(OPERATORS), left, right)


def post_order(tree: Tree) -> list[Tree]:
    if tree.left is None:
        return [tree]
    return [*post_order(tree.left), *post_order(tree.right), tree]


def serialize(tree: Tree) -> dict[str, Any]:
    """The example of ``tree``: post-order tokens and child indices, its infix form, height and label."""
    nodes = post_order(tree)
    index = {id(node): i for i, node in enumerate(nodes)}

    def child(node: Tree | None) -> str:
        return str(NO_CHILD if node is None else index[id(node)])

    return {
        "nodes": " ".join(node.token for node in nodes),
        "left": " ".join(child(node.left) for node in nodes),
        "right": " ".join(child(node.right) for node in nodes),
        "expression": tree.infix(),
        "depth": tree.height,
        "label": tree.value() % MODULUS,
    }


def example(rng: random.Random, min_depth: int, max_depth: int, max_nodes: int = MAX_NODES) -> dict:
    """One example of a uniformly drawn height in ``[min_depth, max_depth]`` and at most ``max_nodes`` nodes."""
    height = rng.randint(min_depth, max_depth)
    while True:
        tree = random_tree(rng, height)
        if tree.size <= max_nodes:
            return serialize(tree)


def generate(size: int, seed: int, exclude: frozenset[str] = frozenset(), *, min_depth: int = 1,
             max_depth: int = TRAIN_MAX_DEPTH) -> list[dict[str, Any]]:
    """``size`` examples with distinct expressions, none in ``exclude``."""
    return distinct(random.Random(seed), lambda rng, index: example(rng, min_depth, max_depth),
                    "expression", size, exclude)


def splits(train_size: int = TRAIN_SIZE, validation_size: int = VALIDATION_SIZE,
           test_size: int = TEST_SIZE) -> dict[str, list[dict[str, Any]]]:
    """The corpus: ``{"train", "validation", "test"}`` (deterministic, disjoint expressions;
    ``test`` deeper than the others)."""

    def deeper(size: int, seed: int, exclude: frozenset[str]) -> list[dict[str, Any]]:
        return generate(size, seed, exclude, min_depth=TRAIN_MAX_DEPTH + 1, max_depth=TEST_MAX_DEPTH)

    corpus = disjoint_splits(generate, "expression",
                             {"train": (train_size, 20261201), "validation": (validation_size, 20261202)})
    corpus["test"] = deeper(test_size, 20261203, frozenset())
    return corpus


class ZooExpressions(GeneratedBuilder, skip_registration=is_registered("zoo_expressions")):
    """Arithmetic expression trees (post-order nodes and child indices) and their value mod 10."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {
        "1.0.0": f"digits and + - *, train/validation heights 1-{TRAIN_MAX_DEPTH}, "
                 f"test heights {TRAIN_MAX_DEPTH + 1}-{TEST_MAX_DEPTH}."}

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict({
                "nodes": tfds.features.Text(),
                "left": tfds.features.Text(),
                "right": tfds.features.Text(),
                "expression": tfds.features.Text(),
                "depth": tfds.features.Scalar(dtype=np.int64),
                "label": tfds.features.ClassLabel(num_classes=MODULUS),
            }),
            supervised_keys=None,
        )

    def corpus(self) -> dict[str, list[dict[str, Any]]]:
        return splits()

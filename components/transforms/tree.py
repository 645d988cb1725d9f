"""Transform for trees: post-order node tokens and child indices to fixed-size dense features.

``custom_config`` (all optional)::

    {"label_key": "label", "max_nodes": 64, "vocab_name": "tree_tokens"}

Reads the raw strings of :mod:`models.features.tree` (``nodes``, ``left``,
``right``: one space-separated field per node, post-order) and writes
``node_ids`` (token ids from the vocabulary ``vocab_name``, ``<pad>`` = 0,
``<unk>`` = 1), ``left_child``/``right_child`` (-1 for none) and ``levels``
(node heights, -1 pads), each int64 ``(max_nodes,)``, and the label as int64.
Everything runs in TensorFlow ops, so the served model takes the raw strings.

A tree that is not one is refused with ``InvalidArgumentError`` (TF Serving's
INVALID_ARGUMENT, HTTP 400), never truncated or guessed at: a child index
that is not an integer, fields in ``left``/``right`` not one per node, no
node or more than ``max_nodes``, a child index out of range, a child at or
after its parent (a cycle cannot be written in post-order), a node with two
parents, or a node without a parent other than the root (the last).
:func:`tree_features` is the same featurisation without TFT (any token
lookup), for code that runs outside a pipeline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from components.transforms.text import dense_column
from models.features import tree as contract

Lookup = Callable[[tf.RaggedTensor], tf.RaggedTensor]


def _fields(strings: tf.Tensor) -> tf.RaggedTensor:
    return tf.strings.split(tf.strings.strip(strings))


def _indices(strings: tf.Tensor) -> tf.RaggedTensor:
    fields = _fields(strings)
    numbers = tf.strings.to_number(fields.flat_values, tf.int64)  # InvalidArgument on a non-integer
    return fields.with_flat_values(numbers)


def _check(condition: tf.Tensor, message: str) -> tf.Operation:
    return tf.debugging.Assert(tf.reduce_all(condition), [f"malformed tree: {message}"], name="check_tree")


def node_levels(left: tf.Tensor, right: tf.Tensor, valid: tf.Tensor) -> tf.Tensor:
    """Node heights ``(batch, max_nodes)`` from child indices (-1: none): a leaf is 0, a parent one
    more than its highest child, padding -1. Children must come before their parents.

    >>> left, right = tf.constant([[-1, -1, 0, -1]]), tf.constant([[-1, -1, 1, -1]])
    >>> node_levels(left, right, tf.constant([[True, True, True, False]])).numpy().tolist()
    [[0, 0, 1, -1]]
    """
    def level_of(levels: tf.Tensor, child: tf.Tensor) -> tf.Tensor:
        picked = tf.gather(levels, tf.maximum(child, 0), batch_dims=1)
        return tf.where(child >= 0, picked, -1)

    def step(i: tf.Tensor, levels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        height = tf.maximum(level_of(levels, left), level_of(levels, right)) + 1
        return i + 1, tf.where(valid, height, -1)

    nodes = tf.shape(left, out_type=tf.int64)[1]
    start = tf.where(valid, tf.zeros_like(left), -1)
    _, levels = tf.while_loop(lambda i, _: i < nodes, step, (tf.constant(0, tf.int64), start))
    return levels


def tree_features(nodes: tf.Tensor, left: tf.Tensor, right: tf.Tensor, lookup: Lookup,
                  max_nodes: int = contract.MAX_NODES) -> dict[str, tf.Tensor]:
    """Raw ``(batch,)`` strings -> the dense tree features, after checking each row is a tree.

    ``lookup`` maps ragged token strings to ragged int64 ids.

    >>> table = {"+": 2, "1": 3, "2": 4}
    >>> lookup = lambda t: tf.ragged.map_flat_values(
    ...     lambda v: tf.constant([table[s.decode()] for s in v.numpy()], tf.int64), t)
    >>> out = tree_features(tf.constant(["1 2 +"]), tf.constant(["-1 -1 0"]), tf.constant(["-1 -1 1"]),
    ...                     lookup, max_nodes=4)
    >>> [out[k].numpy().tolist() for k in ("node_ids", "left_child", "right_child", "levels")]
    [[[3, 4, 2, 0]], [[-1, -1, 0, -1]], [[-1, -1, 1, -1]], [[0, 0, 1, -1]]]
    >>> try:  # node 0's left child is node 2, its parent: a cycle
    ...     tree_features(tf.constant(["1 2 +"]), tf.constant(["-1 -1 2"]), tf.constant(["-1 -1 1"]), lookup)
    ... except tf.errors.InvalidArgumentError as error:
    ...     print("malformed tree: a child at or after its parent" in error.message)
    True
    """
    tokens = _fields(nodes)
    lefts, rights = _indices(left), _indices(right)
    counts = tokens.row_lengths()
    checks = [
        _check(tf.equal(lefts.row_lengths(), counts) & tf.equal(rights.row_lengths(), counts),
               "'left' and 'right' need one child index per node"),
        _check((counts >= 1) & (counts <= max_nodes), f"a tree needs 1 to {max_nodes} nodes"),
    ]
    with tf.control_dependencies(checks):
        shape = [None, max_nodes]
        left_child = tf.identity(lefts.to_tensor(contract.NO_CHILD, shape=shape))
        right_child = tf.identity(rights.to_tensor(contract.NO_CHILD, shape=shape))
    position = tf.range(max_nodes, dtype=tf.int64)[None, :]
    valid = position < counts[:, None]
    children = tf.stack([left_child, right_child], axis=-1)  # (batch, max_nodes, 2)
    counts_2d = counts[:, None, None]
    parents = tf.reduce_sum(tf.one_hot(children, max_nodes, dtype=tf.int64), axis=[1, 2])  # -1 -> zeros
    is_root = position == counts[:, None] - 1
    checks = [
        _check((children >= contract.NO_CHILD) & (children < counts_2d), "a child index out of range"),
        _check((children < position[..., None]), "a child at or after its parent (nodes must be in "
               "post-order: every child before its parent; a cycle is not a tree)"),
        _check(tf.where(valid & ~is_root, parents == 1, True), "every node but the root (the last) "
               "needs exactly one parent"),
        _check(tf.where(is_root, parents == 0, True), "the root (the last node) cannot be a child"),
    ]
    # The vocabulary's analyzer evaluates its reserved tokens without any input: built outside the checks.
    ids = lookup(tokens).to_tensor(contract.PAD_ID, shape=shape)
    with tf.control_dependencies(checks):
        return {
            contract.NODE_IDS: tf.cast(tf.identity(ids), tf.int64),
            contract.LEFT_CHILD: tf.identity(left_child),
            contract.RIGHT_CHILD: tf.identity(right_child),
            contract.LEVELS: node_levels(left_child, right_child, valid),
        }


def preprocessing_fn(inputs: Mapping[str, Any], custom_config: Mapping[str, Any] | None = None) -> dict[str, tf.Tensor]:
    config = dict(custom_config or {})
    label_key = config.get("label_key", contract.LABEL)
    vocab_name = config.get("vocab_name", contract.VOCAB)
    missing = sorted({contract.NODES, contract.LEFT, contract.RIGHT} - set(inputs))
    if missing:
        raise ValueError(f"no tree feature(s) {missing} in the raw data; features: {sorted(inputs)}")

    def lookup(tokens: tf.RaggedTensor) -> tf.RaggedTensor:
        return tft.compute_and_apply_vocabulary(
            tokens, default_value=contract.UNK_ID, vocab_filename=vocab_name,
            reserved_tokens=list(contract.RESERVED_TOKENS), name=f"vocab_{vocab_name}")

    outputs = tree_features(*(dense_column(inputs[k], "") for k in (contract.NODES, contract.LEFT, contract.RIGHT)),
                            lookup, max_nodes=int(config.get("max_nodes", contract.MAX_NODES)))
    if label_key in inputs:
        outputs[label_key] = tf.cast(dense_column(inputs[label_key], -1), tf.int64)
    return outputs

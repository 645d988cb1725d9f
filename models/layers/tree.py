"""Recursive (tree-structured) network layers: one composition function applied bottom-up.

:class:`TreeComposition` is the composition function of the notes: a node's
representation from its children's and its own token's,

    h = tanh(W [h_left; h_right; e(token)] + b)

(with ``hidden_units > 0``: ``h = tanh(W2 relu(W1 [h_left; h_right; e] + b1) + b2)``).
A missing child contributes zeros, so leaves go through the same function.

:class:`TreeEncoder` applies it over a batch of trees of different shapes,
level by level: every node of level ``l`` (its height) depends only on nodes
of lower levels, so one vectorised step computes all nodes of one level in
every tree at once (a ``keras.ops.while_loop`` over the levels of the batch,
never one call per node). Its inputs are the features of
:mod:`models.features.tree`: token ids (0 pads), left and right child
indices (-1 for none) and levels (-1 pads); it returns the root
representations (the last real node of each tree) or, with
``return_nodes=True``, every node's as well.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class TreeComposition(keras.layers.Layer):
    """``h = tanh(W [h_left; h_right; x] + b)`` (one hidden ReLU layer first when ``hidden_units``).

    Called on ``(h_left, h_right, x)``: child representations ``(..., units)``
    and the node's token embedding ``(..., input_dim)``.

    >>> import numpy as np
    >>> layer = TreeComposition(2, kernel_initializer="ones")
    >>> zeros = np.zeros((1, 2), "float32")
    >>> out = layer((zeros, zeros, np.array([[0.5]], "float32")))
    >>> keras.ops.convert_to_numpy(out).astype("float64").round(4).tolist()  # tanh(0.5)
    [[0.4621, 0.4621]]
    >>> TreeComposition.from_config(layer.get_config()).units
    2
    """

    def __init__(self, units: int, hidden_units: int = 0, kernel_initializer: Any = "glorot_uniform",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(units) < 1 or int(hidden_units) < 0:
            raise ValueError(f"units must be >= 1 and hidden_units >= 0, got {units} and {hidden_units}")
        self.units, self.hidden_units = int(units), int(hidden_units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape: Any) -> None:
        width = 2 * self.units + int(input_shape[2][-1])
        layers = [(width, self.hidden_units), (self.hidden_units, self.units)] if self.hidden_units \
            else [(width, self.units)]
        self.kernels = [self.add_weight(name=f"kernel_{i}", shape=shape, initializer=self.kernel_initializer)
                        for i, shape in enumerate(layers)]
        self.biases = [self.add_weight(name=f"bias_{i}", shape=(shape[1],), initializer="zeros")
                       for i, shape in enumerate(layers)]

    def call(self, inputs: Any) -> Any:
        h_left, h_right, x = inputs
        h = ops.concatenate([h_left, h_right, ops.cast(x, h_left.dtype)], axis=-1)
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            h = ops.matmul(h, kernel) + bias
            h = ops.tanh(h) if i == len(self.kernels) - 1 else ops.relu(h)
        return h

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (*input_shape[0][:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "hidden_units": self.hidden_units,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


def gather_nodes(states: Any, index: Any) -> Any:
    """``states[b, index[b, n]]`` for ``states (batch, nodes, units)``; zeros where ``index < 0``.

    >>> import numpy as np
    >>> states = np.arange(6, dtype="float32").reshape(1, 3, 2)
    >>> keras.ops.convert_to_numpy(gather_nodes(states, np.array([[2, -1, 0]]))).tolist()
    [[[4.0, 5.0], [0.0, 0.0], [0.0, 1.0]]]
    """
    index = ops.cast(index, "int32")
    picked = ops.take_along_axis(states, ops.expand_dims(ops.maximum(index, 0), -1), axis=1)
    return picked * ops.cast(ops.expand_dims(index >= 0, -1), states.dtype)


@keras.saving.register_keras_serializable(package="zoo")
class TreeEncoder(keras.layers.Layer):
    """Token embedding + :class:`TreeComposition` over whole trees, one level per step.

    Called on ``[node_ids, left, right, levels]``, each ``(batch, max_nodes)``
    integers; returns the roots ``(batch, units)`` (and the nodes
    ``(batch, max_nodes, units)`` too with ``return_nodes=True``; padding
    rows are zeros).

    >>> import numpy as np
    >>> encoder = TreeEncoder(vocab_size=5, embedding_dim=3, units=4)
    >>> tree = [np.array([[2, 3, 4, 0]]), np.array([[-1, -1, 0, -1]]), np.array([[-1, -1, 1, -1]]),
    ...         np.array([[0, 0, 1, -1]])]
    >>> tuple(encoder(tree).shape)
    (1, 4)
    >>> TreeEncoder.from_config(encoder.get_config()).units
    4
    """

    def __init__(self, vocab_size: int, embedding_dim: int, units: int, hidden_units: int = 0,
                 return_nodes: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim, self.units = int(vocab_size), int(embedding_dim), int(units)
        self.hidden_units, self.return_nodes = int(hidden_units), bool(return_nodes)
        self.embedding = keras.layers.Embedding(self.vocab_size, self.embedding_dim, name="token_embedding")
        self.composition = TreeComposition(self.units, self.hidden_units, name="composition")

    def build(self, input_shape: Any) -> None:
        # Built here, outside the loop over levels: no weight may be created inside a while_loop.
        self.embedding.build(input_shape[0])
        self.composition.build([(None, self.units), (None, self.units), (None, self.embedding_dim)])

    def call(self, inputs: Any) -> Any:
        node_ids, left, right, levels = (ops.cast(x, "int32") for x in inputs)
        tokens = self.embedding(node_ids)
        zeros = ops.zeros_like(tokens[..., :1]) * ops.zeros((self.units,), tokens.dtype)

        def step(level: Any, states: Any) -> tuple[Any, Any]:
            new = self.composition((gather_nodes(states, left), gather_nodes(states, right), tokens))
            return level + 1, ops.where(ops.expand_dims(levels == level, -1), new, states)

        max_nodes = node_ids.shape[1]
        if keras.backend.backend() == "jax" and max_nodes is not None:
            # JAX differentiates only loops of static length (a scan): every level a node can have
            # (< max_nodes); the levels past the batch's deepest change nothing.
            states = ops.fori_loop(0, int(max_nodes), lambda level, states: step(level, states)[1], zeros)
        else:  # as many steps as the batch's deepest level
            top = ops.max(levels) + 1
            _, states = ops.while_loop(lambda level, states: level < top, step, (ops.zeros((), "int32"), zeros))
        count = ops.sum(ops.cast(node_ids != 0, "int32"), axis=1)
        root = gather_nodes(states, ops.expand_dims(count - 1, -1))[:, 0]
        return (root, states) if self.return_nodes else root

    def compute_output_shape(self, input_shape: Any) -> Any:
        batch, nodes = input_shape[0][0], input_shape[0][1]
        root = (batch, self.units)
        return (root, (batch, nodes, self.units)) if self.return_nodes else root

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "vocab_size": self.vocab_size, "embedding_dim": self.embedding_dim,
                "units": self.units, "hidden_units": self.hidden_units, "return_nodes": self.return_nodes}

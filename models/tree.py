"""Recursive neural network over trees, as the notes define it: one composition
function applied bottom-up over a tree until the root representation, and a
classifier on the root.

Each node's token is embedded; the composition function
(:class:`models.layers.tree.TreeComposition`)

    h = tanh(W [h_left; h_right; e(token)] + b)

(``hidden_units > 0`` puts one ReLU layer before the ``tanh``: a more
expressive function, still one and the same at every node) makes a node's
representation from its children's (zeros for a missing child, so leaves are
composed too) and its token. :class:`models.layers.tree.TreeEncoder`
batches trees of different shapes level by level (one vectorised step per
level, ``keras.ops.while_loop`` up to the batch's highest root), so the
network runs on trees deeper than any it was trained on. The softmax head
reads the root. Served: ``predict`` (``probabilities``, ``classes``, the
``root`` vector, and ``node_classes``: the same classifier on every node,
the label of each subtree, -1 for padding), on the tree features of
:mod:`models.features.tree`.

Example:

>>> from models import registry
>>> family = registry.get("recursive_nn")
>>> hp = family.hparams({"units": 8, "embedding_dim": 4, "vocab_size": 12})
>>> data = DataSpec({k: FeatureInfo((16,), "int64") for k in tree.INPUTS}, "label", 10)
>>> family.build(hp, data).output_shape
(None, 10)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import keras

from models import registry
from models.base import ClassifierFamily, DataSpec, FeatureInfo, Signature  # noqa: F401  (doctest)
from models.features import feature_shape, text, tree
from models.hparams import HParams, check_positive_int
from models.layers.tree import TreeEncoder

ENCODER = "tree_encoder"
HIDDEN = "head_hidden"


@dataclasses.dataclass(kw_only=True)
class RecursiveNNHParams(HParams):
    units: int = 64                   # node representation size
    embedding_dim: int = 32           # token embedding size
    hidden_units: int = 64            # hidden ReLU layer of the composition function; 0: a single tanh layer
    dense_units: int = 0              # optional hidden layer in the head
    epochs: int = 20
    learning_rate: float = 3e-3
    clipnorm: float | None = 1.0
    vocab_name: str = tree.VOCAB      # Transform vocabulary (DataSpec.extras['vocab_sizes'])
    vocab_size: int | None = None     # overrides the vocabulary size (training without Transform)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("units", self.units)
        check_positive_int("embedding_dim", self.embedding_dim)
        if not isinstance(self.hidden_units, int) or self.hidden_units < 0:
            raise ValueError(f"hidden_units must be an integer >= 0, got {self.hidden_units!r}")
        if not isinstance(self.dense_units, int) or self.dense_units < 0:
            raise ValueError(f"dense_units must be an integer >= 0, got {self.dense_units!r}")


@registry.register
class RecursiveNN(ClassifierFamily):
    name = "recursive_nn"
    hparams_cls = RecursiveNNHParams
    supports_jit_compile = False  # a TensorArray in a data-dependent while loop: XLA needs a fixed size

    def input_features(self, hparams: RecursiveNNHParams) -> tuple[str, ...]:
        return tree.INPUTS

    def body(self, hparams: RecursiveNNHParams, data: DataSpec, inputs: Mapping[str, Any]) -> Any:
        shapes = {feature_shape(data.features, key) for key in tree.INPUTS}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise ValueError(f"tree features {list(tree.INPUTS)} must share one shape (max_nodes,); got "
                             f"{[feature_shape(data.features, key) for key in tree.INPUTS]}")
        encoder = TreeEncoder(text.vocab_size(data, hparams.vocab_name, hparams.vocab_size), hparams.embedding_dim,
                              hparams.units, hparams.hidden_units, return_nodes=True, name=ENCODER)
        x, _ = encoder([inputs[key] for key in tree.INPUTS])
        if hparams.dense_units:
            x = keras.layers.Dense(hparams.dense_units, activation="relu", name=HIDDEN)(x)
        return x

    def signatures(self, model: keras.Model, hparams: RecursiveNNHParams, data: DataSpec) -> dict[str, Signature]:
        root, nodes = model.get_layer(ENCODER).output
        heads = keras.Model(model.inputs, [model.output, root, nodes])
        head = [model.get_layer(HIDDEN)] if hparams.dense_units else []
        head.append(model.get_layer("probabilities"))

        def predict(features: Mapping[str, Any]) -> dict[str, Any]:
            inputs = {k: features[k] for k in tree.INPUTS}
            probabilities, root, nodes = heads(inputs, training=False)
            for layer in head:  # the root's classifier, on every node (each node is a subtree's root)
                nodes = layer(nodes)
            node_classes = keras.ops.where(keras.ops.convert_to_tensor(inputs[tree.NODE_IDS]) != tree.PAD_ID,
                                           keras.ops.argmax(nodes, axis=-1), -1)
            return {"probabilities": probabilities, "classes": keras.ops.argmax(probabilities, axis=-1),
                    "root": root, "node_classes": node_classes}

        return {"predict": Signature(predict)}

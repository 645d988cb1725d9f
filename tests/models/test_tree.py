"""The recursive network: its composition by hand, batching, training, config and signatures."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models import registry
from models.base import DataSpec, FeatureInfo
from models.features import tree as contract
from models.layers.tree import TreeComposition, TreeEncoder

# The tree (1 + 2) in post-order: leaves 1 and 2 (ids 3, 4), then '+' (id 2), padded to 5 nodes.
THREE_NODES = [np.array([[3, 4, 2, 0, 0]]), np.array([[-1, -1, 0, -1, -1]]),
               np.array([[-1, -1, 1, -1, -1]]), np.array([[0, 0, 1, -1, -1]])]


def _weights(layer: keras.layers.Layer) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(w) for w in layer.weights]


@pytest.mark.parametrize("hidden_units", [0, 3])
def test_root_is_the_hand_computed_composition_of_a_three_node_tree(hidden_units):
    encoder = TreeEncoder(vocab_size=5, embedding_dim=2, units=4, hidden_units=hidden_units, return_nodes=True)
    root, nodes = encoder(THREE_NODES)
    rng = np.random.default_rng(0)  # non-zero biases, so a missing child's zeros are not the bias's
    for weight in encoder.composition.weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    root, nodes = (keras.ops.convert_to_numpy(x) for x in encoder(THREE_NODES))

    table = keras.ops.convert_to_numpy(encoder.embedding.embeddings)
    params = _weights(encoder.composition)
    kernels, biases = params[:len(params) // 2], params[len(params) // 2:]

    def compose(left: np.ndarray, right: np.ndarray, token: int) -> np.ndarray:
        h = np.concatenate([left, right, table[token]])
        if hidden_units:
            h = np.maximum(h @ kernels[0] + biases[0], 0.0)
        return np.tanh(h @ kernels[-1] + biases[-1])

    zero = np.zeros(4)
    one, two = compose(zero, zero, 3), compose(zero, zero, 4)
    plus = compose(one, two, 2)
    np.testing.assert_allclose(root[0], plus, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nodes[0, :3], [one, two, plus], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(nodes[0, 3:], 0.0)  # padding stays zero
    assert not np.allclose(one, two)


def _trees() -> list[tuple[list[int], list[int], list[int], list[int]]]:
    """(ids, left, right, levels) of trees of different shapes: a leaf, a chain-like and a balanced tree."""
    return [
        ([5], [-1], [-1], [0]),
        ([3, 4, 2, 6, 7], [-1, -1, 0, -1, 2], [-1, -1, 1, -1, 3], [0, 0, 1, 0, 2]),
        ([3, 4, 2, 5, 6, 7, 8], [-1, -1, 0, -1, -1, 3, 2], [-1, -1, 1, -1, -1, 4, 5], [0, 0, 1, 0, 0, 1, 2]),
    ]


def _pad(trees: list, width: int) -> list[np.ndarray]:
    fills = (0, -1, -1, -1)
    return [np.array([list(t[i]) + [fills[i]] * (width - len(t[i])) for t in trees]) for i in range(4)]


def test_batching_trees_of_different_shapes_equals_one_at_a_time():
    encoder = TreeEncoder(vocab_size=9, embedding_dim=3, units=5, hidden_units=4)
    batched = keras.ops.convert_to_numpy(encoder(_pad(_trees(), 9)))
    for i, tree in enumerate(_trees()):
        alone = keras.ops.convert_to_numpy(encoder(_pad([tree], len(tree[0]))))
        np.testing.assert_allclose(batched[i], alone[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(batched[1], batched[2])


def test_composition_config_round_trip_and_bad_sizes():
    layer = TreeComposition(6, hidden_units=2)
    clone = TreeComposition.from_config(layer.get_config())
    assert (clone.units, clone.hidden_units) == (6, 2)
    with pytest.raises(ValueError, match="units"):
        TreeComposition(0)


def _data(width: int = 9) -> DataSpec:
    return DataSpec({k: FeatureInfo((width,), "int64") for k in contract.INPUTS}, contract.LABEL, 10,
                    extras={"vocab_sizes": {contract.VOCAB: 9}})


def test_family_hparams_are_checked():
    family = registry.get("recursive_nn")
    with pytest.raises(ValueError, match="hidden_units"):
        family.hparams({"hidden_units": -1})
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        family.hparams({"cell": "gru"})
    with pytest.raises(ValueError, match="share one shape"):
        family.build(family.hparams({}), DataSpec({**_data().features, contract.LEVELS: FeatureInfo((3,), "int64")},
                                                  contract.LABEL, 10, extras=_data().extras))


def test_loss_decreases_and_predict_serves_label_and_root():
    family = registry.get("recursive_nn")
    hp = family.hparams({"units": 8, "embedding_dim": 4, "hidden_units": 8, "batch_size": 3,
                         "learning_rate": 0.01})
    keras.utils.set_random_seed(0)
    model = family.build(hp, _data())
    inputs = dict(zip(contract.INPUTS, _pad(_trees(), 9)))
    labels = np.array([1, 7, 4])
    before = model.evaluate(inputs, labels, verbose=0)[0]
    model.fit(inputs, labels, epochs=30, batch_size=3, verbose=0)
    after = model.evaluate(inputs, labels, verbose=0)[0]
    assert after < 0.5 * before, (before, after)

    outputs = family.signatures(model, hp, _data())["predict"].fn(inputs)
    assert keras.ops.convert_to_numpy(outputs["classes"]).tolist() == labels.tolist()
    root = keras.ops.convert_to_numpy(outputs["root"])
    assert root.shape == (3, 8)
    expected, _ = model.get_layer("tree_encoder")([inputs[k] for k in contract.INPUTS])
    np.testing.assert_allclose(root, keras.ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-6)

    # The classifier on every node: each node's class is that of its subtree served as a tree of its own.
    node_classes = keras.ops.convert_to_numpy(outputs["node_classes"])
    sizes = [len(t[0]) for t in _trees()]
    assert [node_classes[i, n - 1] for i, n in enumerate(sizes)] == labels.tolist()
    assert all(np.all(node_classes[i, n:] == -1) for i, n in enumerate(sizes))
    subtree = dict(zip(contract.INPUTS, _pad([tuple(x[:3] for x in _trees()[1])], 9)))  # (3 4 2): node 2 of tree 1
    alone = family.signatures(model, hp, _data())["predict"].fn(subtree)
    assert int(keras.ops.convert_to_numpy(alone["classes"])[0]) == node_classes[1, 2]


def test_gradients_reach_every_leaf_through_the_levels():
    import tensorflow as tf

    encoder = TreeEncoder(vocab_size=9, embedding_dim=3, units=5)
    inputs = _pad(_trees()[2:], 7)  # leaves 3, 4, 5, 6 under two levels of '+'-like nodes 2, 7, 8
    encoder(inputs)

    @tf.function
    def gradient():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(encoder(inputs))
        return tf.convert_to_tensor(tape.gradient(loss, encoder.embedding.embeddings))

    norms = np.abs(gradient().numpy()).sum(axis=1)
    assert np.all(norms[2:9] > 0), norms  # every token of the tree, the deepest leaves included
    assert np.all(norms[:2] == 0), norms  # padding and unused tokens get none

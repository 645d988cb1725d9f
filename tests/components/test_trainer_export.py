"""The served SavedModel computes what the eager model computes.

A real (tiny) tf.Transform run of ``components/transforms/image.py`` on a few
digits, then ``components/trainer/export.py``'s ``export_serving_model`` for
a classifier (CNN, DBN) and generative families (VAE, autoencoder). The
loaded SavedModel's raw-feature and tf.Example signatures must give the eager
``model(features, training=False)`` outputs, to 1e-5.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import load_digits

from components.trainer.data import data_spec
from components.trainer.export import export_serving_model
from components.transforms import image as image_transform
from models import registry
from models.features import image as contract
from tests.components.test_text_transforms import analyze

ROWS = 24
CONFIG = {"image_shape": [8, 8, 1], "max_value": 16}
ATOL = 1e-5


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, dict, object]:
    """Raw pixels, the transformed columns and the Transform output of ROWS digits."""
    digits = load_digits()
    pixels = digits.data[:ROWS].astype(np.int64)
    rows = [{contract.IMAGE: p, contract.LABEL: int(y)} for p, y in zip(pixels, digits.target[:ROWS])]
    spec = {contract.IMAGE: tf.io.FixedLenFeature([64], tf.int64),
            contract.LABEL: tf.io.FixedLenFeature([], tf.int64)}
    out, output = analyze(rows, spec, image_transform.preprocessing_fn, CONFIG,
                          str(tmp_path_factory.mktemp("digits")))
    columns = {k: np.stack([r[k] for r in out]) for k in out[0]}
    return pixels, columns, output


def _examples(pixels: np.ndarray) -> tf.Tensor:
    return tf.constant([tf.train.Example(features=tf.train.Features(feature={
        contract.IMAGE: tf.train.Feature(int64_list=tf.train.Int64List(value=row))})).SerializeToString()
        for row in pixels])


def _numpy(outputs: object) -> dict[str, np.ndarray]:
    if not isinstance(outputs, dict):
        outputs = {"probabilities": outputs}
    return {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}


@pytest.mark.parametrize("name, overrides, signature", [
    ("cnn", {"filters": (4,), "dense_units": 8}, "predict"),
    ("dbn", {"hidden_units": (16,), "pretrain_epochs": 1}, "classify"),
    ("vae", {"latent_dim": 3, "filters": (4, 8)}, "encode"),
    ("autoencoder", {"code_dim": 4, "filters": (4, 8)}, "score"),
])
def test_served_outputs_equal_the_eager_model(transformed, tmp_path, name, overrides, signature) -> None:
    pixels, columns, output = transformed
    np.testing.assert_allclose(columns[contract.IMAGE], pixels.reshape(-1, 8, 8, 1) / 16.0, rtol=1e-6)
    family = registry.get(name)
    classifier = family.task == "classification"
    data = data_spec(output, contract.LABEL, 10)  # as the digits pipelines give every family
    assert set(data.features) == {contract.IMAGE}
    hp = family.hparams({**overrides, "epochs": 1, "batch_size": 8, "seed": 0})
    model = family.build(hp, data)
    # One short training pass, so batch-norm statistics and weights are not at their initial values.
    features = {contract.IMAGE: columns[contract.IMAGE]}
    dataset = tf.data.Dataset.from_tensor_slices((features, columns[contract.LABEL]))
    family.train(model, hp, dataset.batch(8), None)

    names = export_serving_model(model, family, hp, data, output, str(tmp_path / "export"))
    assert family.main_signature == signature
    assert {signature, f"{signature}_raw", "serving_default"} <= set(names)
    loaded = tf.saved_model.load(str(tmp_path / "export"))

    eager = _numpy(model(features, training=False))
    compared = []
    for sig_name, sig in family.signatures(model, hp, data).items():
        if sig.input_signature is not None:
            continue
        served_raw = {k: v.numpy() for k, v in loaded.signatures[f"{sig_name}_raw"](
            **{contract.IMAGE: tf.constant(pixels)}).items()}
        served_examples = {k: v.numpy() for k, v in loaded.signatures[sig_name](examples=_examples(pixels)).items()}
        for key in sorted(set(eager) & set(served_raw)):
            np.testing.assert_allclose(served_raw[key], eager[key], atol=ATOL, err_msg=f"{sig_name}_raw {key}")
            np.testing.assert_allclose(served_examples[key], eager[key], atol=ATOL, err_msg=f"{sig_name} {key}")
            compared.append(key)
        if sig_name == family.main_signature:
            main = served_raw
            default = loaded.signatures["serving_default"](examples=_examples(pixels))
            for key, value in served_examples.items():
                np.testing.assert_array_equal(default[key].numpy(), value)
    assert compared, sorted(eager)
    if classifier:
        np.testing.assert_array_equal(main["classes"], eager["probabilities"].argmax(-1))
    if name == "autoencoder":
        error = np.mean((columns[contract.IMAGE] - eager["reconstruction"]).reshape(ROWS, -1) ** 2, axis=1)
        np.testing.assert_allclose(main["reconstruction_error"], error, atol=ATOL)
    if name == "vae":  # the explicit-input signature: a latent in, the decoded image out
        z = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
        np.testing.assert_allclose(loaded.signatures["decode"](z=tf.constant(z))["image"].numpy(),
                                   keras.ops.convert_to_numpy(model.decode(z)), atol=ATOL)


def test_the_serving_model_holds_the_models_variables_not_its_optimizer(transformed, tmp_path) -> None:
    """The Keras model is not tracked whole: its optimizer slots and trackers stay out of the SavedModel."""
    _, columns, output = transformed
    family = registry.get("cnn")
    data = data_spec(output, contract.LABEL, 10)
    hp = family.hparams({"filters": (4,), "dense_units": 8, "epochs": 1, "batch_size": 8, "seed": 0})
    model = family.build(hp, data)
    dataset = tf.data.Dataset.from_tensor_slices(({contract.IMAGE: columns[contract.IMAGE]}, columns[contract.LABEL]))
    family.train(model, hp, dataset.batch(8), None)
    assert model.optimizer.variables  # trained: Adam has its slots
    export_serving_model(model, family, hp, data, output, str(tmp_path / "export"))
    saved = [name for name, _ in tf.train.list_variables(str(tmp_path / "export" / "variables" / "variables"))]
    assert not [name for name in saved if "optimizer" in name], saved
    held = [name for name in saved if name.startswith("model_variables/")]
    assert len(held) == len(model.variables)


class _TableLookup(keras.layers.Layer):
    """A layer with a resource of its own besides variables: a lookup table."""

    def __init__(self) -> None:
        super().__init__(name="table_lookup")
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant([1, 2], tf.int64), tf.constant([10.0, 20.0])), default_value=-1.0)

    def call(self, ids: tf.Tensor) -> tf.Tensor:
        return self.table.lookup(ids)


def test_a_model_with_its_own_resources_is_saved_whole(tmp_path) -> None:
    """A signature that captures a table only the Keras layer tracks still exports (the model is tracked)."""
    from components.trainer.export import _save

    layer = _TableLookup()
    module = tf.Module()
    module.model_variables = []
    signature = tf.function(lambda ids: {"values": layer(ids)},
                            input_signature=[tf.TensorSpec([None], tf.int64, name="ids")]).get_concrete_function()
    with pytest.raises(AssertionError, match="untracked"):  # what the variables alone give
        tf.saved_model.save(module, str(tmp_path / "variables_only"), signatures={"serving_default": signature})
    _save(module, layer, str(tmp_path / "export"), {"serving_default": signature})
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    values = loaded.signatures["serving_default"](ids=tf.constant([2, 1, 7], tf.int64))["values"].numpy()
    np.testing.assert_array_equal(values, [20.0, 10.0, -1.0])

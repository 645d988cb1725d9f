"""Exports a trained model with its serving signatures, the Transform graph inside.

For every family signature that takes transformed features, two TF Serving
signatures are written:

* ``<name>``: serialized ``tf.Example`` strings in (input ``examples``), parsed
  with the raw feature spec and run through the Transform graph. The family's
  main signature is also ``serving_default`` (what TFMA and TF Serving's
  default requests call).
* ``<name>_raw``: the raw features themselves (JSON-friendly, for REST
  ``instances``), run through the same Transform graph.

Signatures with an explicit input signature (a latent vector, a class id) are
exported as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from components.trainer.signatures import add_classify_regress_signatures
from models.base import CLASSIFICATION, DataSpec, ModelFamily, Signature


def _single_value(shape: Any) -> bool:
    """Whether a raw feature of ``shape`` holds one value per row (shape ``[1]``)."""
    return list(shape) == [1]


def _raw_input_specs(raw_spec: Mapping[str, Any]) -> dict[str, tf.TensorSpec]:
    """Raw-feature inputs; a single-value feature (shape ``[1]``) is taken as a
    scalar per row, so JSON rows read ``{"text": "..."}``, not ``["..."]``."""
    specs = {}
    for name, feature in raw_spec.items():
        if isinstance(feature, tf.io.FixedLenFeature):
            shape = [] if _single_value(feature.shape) else list(feature.shape)
            specs[name] = tf.TensorSpec([None, *shape], feature.dtype, name=name)
        else:
            raise ValueError(f"raw feature '{name}' is {type(feature).__name__}: only fixed-length "
                             "raw features can be served as JSON")
    return specs


def _restore_shapes(raw: Mapping[str, tf.Tensor], raw_spec: Mapping[str, Any]) -> dict[str, tf.Tensor]:
    """Undoes :func:`_raw_input_specs`' squeeze of single-value features."""
    return {k: tf.expand_dims(v, -1) if _single_value(raw_spec[k].shape) else v for k, v in raw.items()}


def _named_function(fn: Any, specs: Mapping[str, tf.TensorSpec]) -> tf.types.experimental.ConcreteFunction:
    """A concrete function whose signature inputs are named after ``specs``' keys.

    Traced without AutoGraph: Keras 3 code has no Python control flow on tensors
    (loops and branches are ``keras.ops.while_loop``/``cond``), and converting
    every Keras layer's Python source was most of the export's time (16 of 19 s
    for the digits CNN).
    """
    names = list(specs)

    def call(*tensors: tf.Tensor) -> Any:
        return fn(dict(zip(names, tensors)))

    return tf.function(call, input_signature=[specs[n] for n in names], autograph=False).get_concrete_function()


def _save(module: tf.Module, model: Any, export_dir: str, signatures: Mapping[str, Any]) -> None:
    """Saves ``module`` (the model's variables and the Transform's resources); when a signature
    captures a resource that only the Keras model tracks, saves again with the model tracked."""
    try:
        tf.saved_model.save(module, export_dir, signatures=signatures)
    except AssertionError as error:  # TensorFlow's "references an 'untracked' resource"
        if "untracked" not in str(error):
            raise
        module.model = model
        tf.saved_model.save(module, export_dir, signatures=signatures)


def export_serving_model(model: Any, family: ModelFamily, hparams: Any, data: DataSpec,
                         tft_output: tft.TFTransformOutput, export_dir: str) -> list[str]:
    """Writes the SavedModel to ``export_dir``; returns the signature names."""
    module = tf.Module()
    # Track the Keras 3 variables' tf.Variables explicitly: otherwise they are
    # only captured by the signature functions, and TF1-style loaders (TF
    # Serving's C++ loader among them) find no restore op for them. Only these:
    # the Keras model itself is not tracked, so its optimizer's slots, metric
    # trackers and layer objects stay out of the serving model (for the digits
    # CNN: 0.5 s instead of 1.3 s of CPU, 0.47 MB instead of 1.65 MB). A model
    # whose signatures capture another resource of its own (a lookup table in a
    # layer) is tracked whole (:func:`_save`).
    module.model_variables = [v.value for v in model.variables]
    transform = tft_output.transform_features_layer()
    # Track what the Transform graph needs (its tables and assets), as TFT's layer
    # itself does, rather than the tf_keras layer: saving a called tf_keras layer
    # re-traces its call functions with AutoGraph (7 s of an 8 s export of the digits CNN).
    tracked = getattr(transform, "_saved_model_loader_tracked_dict", None)
    if tracked is not None:
        module.transform_resources = tracked
    else:  # another TFT version: track the layer, slower but complete
        module.tft_layer = transform
    raw_spec = {k: v for k, v in tft_output.raw_feature_spec().items() if k != data.label_key}
    feature_keys = list(data.features)

    def through_transform(sig: Signature) -> Any:
        def fn(raw: Mapping[str, tf.Tensor]) -> Any:
            transformed = transform(dict(raw))
            return sig.fn({k: transformed[k] for k in feature_keys})
        return fn

    signatures: dict[str, Any] = {}
    for name, sig in family.signatures(model, hparams, data).items():
        if sig.input_signature is None:
            on_raw = through_transform(sig)

            def on_examples(inputs: Mapping[str, tf.Tensor], on_raw: Any = on_raw) -> Any:
                return on_raw(tf.io.parse_example(inputs["examples"], raw_spec))

            signatures[name] = _named_function(
                on_examples, {"examples": tf.TensorSpec([None], tf.string, name="examples")})
            signatures[f"{name}_raw"] = _named_function(
                lambda raw, on_raw=on_raw: on_raw(_restore_shapes(raw, raw_spec)), _raw_input_specs(raw_spec))
        else:
            specs = {k: tf.TensorSpec(shape, dtype, name=k) for k, (shape, dtype) in sig.input_signature.items()}
            signatures[name] = _named_function(sig.fn, specs)
    if family.main_signature not in signatures:
        raise ValueError(f"family '{family.name}' has no signature '{family.main_signature}'")
    signatures["serving_default"] = signatures[family.main_signature]
    _save(module, model, export_dir, signatures)
    names = set(signatures)
    if family.task == CLASSIFICATION:
        # TF Serving's Classify API reads classify-method signatures on tf.Examples.
        names.update(add_classify_regress_signatures(export_dir, scores_output="probabilities"))
    return sorted(names)

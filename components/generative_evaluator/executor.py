"""Executor of the GenerativeEvaluator: evaluates a generative model through its
exported serving signatures, checks the thresholds and writes the blessing.

The model kind is read from the SavedModel's signatures:

* ``generate`` (a GAN; conditional when it takes ``label``): ``fid`` between
  real and generated digits on the reference classifier's features,
  ``sample_confidence`` and, conditional only, ``class_consistency``.
* ``decode`` with ``encode`` (a VAE): held-out ``neg_elbo`` (nats), its
  ``reconstruction_nll`` and ``kl``, and ``fid``/``sample_confidence`` of prior
  samples.
* ``score`` (an autoencoder): ``roc_auc`` of the reconstruction error between
  clean and corrupted held-out digits, and both mean errors.

Signatures that take transformed features are looked up by name, then as
``<name>_raw`` and ``serving_default``; one with a single string input is fed
the serialized eval tf.Examples (so the Transform graph runs exactly as in
serving), otherwise the raw features by input name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging
from tfx import types
from tfx.components.evaluator import constants
from tfx.dsl.components.base import base_executor
from tfx.types import artifact_utils
from tfx.utils import io_utils, path_utils

from components.evaluator.verdict import record_verdict
from components.generative_evaluator import metrics as gm
from components.generative_evaluator import reference
from components.generative_evaluator.examples import raw_features, with_images
from serving.records import read_files

METRICS_FILE = "metrics.json"
BATCH = 256


def default_cache_dir() -> str:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "tfx-model-zoo")


# --------------------------------------------------------------------------- data


def read_examples(examples: types.Artifact, split: str) -> list[bytes]:
    """The serialized tf.Examples of one split (gzip TFRecords)."""
    uri = artifact_utils.get_split_uri([examples], split)
    return read_files(os.path.join(uri, "*"),
                      error=ValueError(f"no files in split {split!r} of the examples at {examples.uri}"))


# --------------------------------------------------------------------- signatures


class ServedModel:
    """Calls the signatures of a loaded SavedModel in batches, on numpy."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.loaded = tf.saved_model.load(path)
        self.signatures = self.loaded.signatures

    def inputs(self, name: str) -> dict[str, tf.TensorSpec]:
        return dict(self.signatures[name].structured_input_signature[1])

    def call(self, name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        fn, specs = self.signatures[name], self.inputs(name)
        unknown = sorted(set(specs) - set(inputs))
        if unknown:
            raise ValueError(f"signature {name!r} needs inputs {unknown}; have {sorted(inputs)}")
        size = len(next(iter(inputs.values())))
        chunks: dict[str, list[np.ndarray]] = {}
        for start in range(0, size, BATCH):
            batch = {k: tf.constant(np.asarray(inputs[k][start:start + BATCH]), dtype=specs[k].dtype)
                     for k in specs}
            for key, value in fn(**batch).items():
                chunks.setdefault(key, []).append(value.numpy())
        return {key: np.concatenate(values) for key, values in chunks.items()}

    def call_on_examples(self, name: str, needs: str, serialized: Sequence[bytes],
                         raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Calls the feature-taking signature ``name`` (or its exported variants)
        whose outputs include ``needs``."""
        for candidate in (name, f"{name}_raw", "serving_default"):
            if candidate not in self.signatures:
                continue
            if needs not in self.signatures[candidate].structured_outputs:
                continue
            specs = self.inputs(candidate)
            if len(specs) == 1 and next(iter(specs.values())).dtype == tf.string:
                return self.call(candidate, {next(iter(specs)): np.array(serialized, dtype=object)})
            return self.call(candidate, {k: _reshape(raw[k], specs[k]) for k in specs if k in raw})
        raise ValueError(f"no signature {name!r} with output {needs!r} in {self.path}; "
                         f"signatures: {sorted(self.signatures)}")

    def kind(self) -> str:
        names = set(self.signatures)
        if "generate" in names:
            return "gan"
        if {"decode", "encode"} <= names or {"decode", "encode_raw"} <= names:
            return "vae"
        if names & {"score", "score_raw"}:
            return "autoencoder"
        raise ValueError(f"cannot tell the generative model kind from signatures {sorted(names)}; expected "
                         f"'generate' (GAN), 'encode'+'decode' (VAE) or 'score' (autoencoder)")


def _reshape(values: np.ndarray, spec: tf.TensorSpec) -> np.ndarray:
    shape = [d if d is not None else -1 for d in spec.shape.as_list()]
    return values.reshape(shape) if shape and shape.count(-1) <= 1 else values


# ------------------------------------------------------------------------ metrics


def _sample_metrics(images: np.ndarray, real_features: np.ndarray,
                    judge: reference.ReferenceClassifier) -> tuple[dict[str, float], np.ndarray]:
    probabilities, features = judge.predict(images)
    return {"fid": gm.frechet_distance(real_features, features),
            "sample_confidence": gm.mean_confidence(probabilities)}, probabilities


def evaluate(model: ServedModel, serialized: Sequence[bytes], params: Mapping[str, Any],
             judge: Callable[[], reference.ReferenceClassifier]) -> dict[str, float]:
    """All metrics of one model on the eval examples."""
    image_key, label_key, seed = params["image_key"], params["label_key"], params["seed"]
    raw = raw_features(serialized, image_key, label_key)
    images = raw[image_key].reshape((-1, *reference.IMAGE_SHAPE)).astype(np.float32) / params["image_scale"]
    rng = np.random.default_rng(seed)
    kind = model.kind()
    if kind == "autoencoder":
        corruption = params["corruption"]
        corrupted = gm.corrupt(images, corruption["kind"], corruption["strength"], seed)
        raw_corrupted = np.rint(corrupted * params["image_scale"]).astype(np.int64).reshape(len(images), -1)
        clean = model.call_on_examples("score", "reconstruction_error", serialized, raw)["reconstruction_error"]
        noisy = model.call_on_examples("score", "reconstruction_error",
                                       with_images(serialized, image_key, raw_corrupted),
                                       {**raw, image_key: raw_corrupted})["reconstruction_error"]
        return {"roc_auc": gm.roc_auc(clean.reshape(-1), noisy.reshape(-1)),
                "clean_reconstruction_error": float(np.mean(clean)),
                "corrupted_reconstruction_error": float(np.mean(noisy))}

    _, real_features = judge().predict(images)
    if kind == "vae":
        posterior = model.call_on_examples("encode", "z_mean", serialized, raw)

        def decode(z: np.ndarray) -> np.ndarray:
            return model.call("decode", {"z": z})["image"]

        out = gm.negative_elbo(images, posterior["z_mean"], posterior["z_log_var"], decode, seed)
        latent_dim = model.inputs("decode")["z"].shape[-1]
        samples = decode(rng.standard_normal((params["num_samples"], latent_dim)).astype(np.float32))
        out.update(_sample_metrics(samples, real_features, judge())[0])
        return out

    specs = model.inputs("generate")
    inputs = {"z": rng.standard_normal((params["num_samples"], specs["z"].shape[-1])).astype(np.float32)}
    if "label" in specs:
        inputs["label"] = np.arange(params["num_samples"]) % reference.NUM_CLASSES
    generated = model.call("generate", inputs)["image"]
    out, probabilities = _sample_metrics(generated, real_features, judge())
    if "label" in specs:
        out["class_consistency"] = gm.class_consistency(probabilities, inputs["label"])
    return out


# ----------------------------------------------------------------------- executor


def _params(exec_properties: Mapping[str, Any]) -> dict[str, Any]:
    def get(key: str, default: Any) -> Any:
        return default if exec_properties.get(key) in (None, "") else exec_properties[key]

    corruption = get("corruption", None)
    return {
        "thresholds": gm.parse_thresholds(get("thresholds", None)),
        "example_split": get("example_split", "eval"),
        "image_key": get("image_key", "image"),
        "label_key": get("label_key", "label"),
        "image_scale": float(get("image_scale", 255.0)),
        "num_samples": int(get("num_samples", 1000)),
        "seed": int(get("seed", 0)),
        "cache_dir": get("cache_dir", default_cache_dir()),
        "corruption": {**gm.DEFAULT_CORRUPTION,
                       **(json.loads(corruption) if isinstance(corruption, str) else corruption or {})},
    }


class Executor(base_executor.BaseExecutor):
    """Evaluates ``model`` (and ``baseline_model``), writes ``evaluation`` and ``blessing``."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        params = _params(exec_properties)
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        serialized = read_examples(examples, params["example_split"])
        judge_cache: list[reference.ReferenceClassifier] = []

        def judge() -> reference.ReferenceClassifier:
            if not judge_cache:
                judge_cache.append(reference.load_reference_classifier(params["cache_dir"]))
            return judge_cache[0]

        current = artifact_utils.get_single_instance(input_dict["model"])
        metrics = evaluate(ServedModel(path_utils.serving_model_path(current.uri)), serialized, params, judge)
        baseline_artifact = (input_dict.get("baseline_model") or [None])[0]
        baseline = None
        if baseline_artifact is not None:
            baseline = evaluate(ServedModel(path_utils.serving_model_path(baseline_artifact.uri)), serialized,
                                params, judge)
        blessed, checks = gm.validate(metrics, params["thresholds"], baseline)
        logging.info("generative evaluation: %s; checks %s; blessed=%s", metrics, checks, blessed)

        evaluation = artifact_utils.get_single_instance(output_dict["evaluation"])
        report = {"metrics": metrics, "baseline_metrics": baseline, "checks": checks, "blessed": blessed,
                  "reference_classifier_accuracy": judge_cache[0].accuracy if judge_cache else None}
        io_utils.write_string_file(os.path.join(evaluation.uri, METRICS_FILE), json.dumps(report, indent=2))
        blessing = artifact_utils.get_single_instance(output_dict["blessing"])
        write_blessing(blessing, blessed, current, baseline_artifact)
        record_verdict(evaluation, blessing, metrics, [gm.describe_failure(c) for c in checks if not c["ok"]])


def write_blessing(blessing: types.Artifact, blessed: bool, current: types.Artifact,
           baseline: types.Artifact | None) -> None:
    """Writes the blessing exactly as TFX's Evaluator does (the Pusher reads
    the ``blessed`` custom property, ``model_utils.is_model_blessed``)."""
    blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, current.uri)
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, current.id)
    if baseline is not None:
        blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY, baseline.uri)
        blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY, baseline.id)
    name = constants.BLESSED_FILE_NAME if blessed else constants.NOT_BLESSED_FILE_NAME
    io_utils.write_string_file(os.path.join(blessing.uri, name), "")
    blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY,
                                     constants.BLESSED_VALUE if blessed else constants.NOT_BLESSED_VALUE)

"""Executor of the GenerativeEvaluator: judges a generative model through its
served signatures, picked by the roles the family declares (never guessed):

* ``generate`` (a GAN; conditional when the signature takes ``label``):
  ``fid`` between real and generated images on the reference classifier's
  features, ``sample_confidence`` and, conditional only, ``class_consistency``.
* ``encode`` with ``decode`` (a VAE, whose ``encode`` gives ``z_mean`` and
  ``z_log_var``): held-out ``neg_elbo`` (nats), its ``reconstruction_nll``
  and ``kl``, and ``fid``/``sample_confidence`` of prior samples.
* ``encode`` with ``decode`` and a deterministic code (an adversarial
  autoencoder: ``encode`` gives one code, no ``z_log_var``): held-out
  ``reconstruction_nll`` (Bernoulli, nats per image) and
  ``fid``/``sample_confidence`` of the ``sample`` signature's prior draws
  (the family's own prior, e.g. a mixture).
* ``density`` (a normalizing flow): held-out ``bits_per_dim`` (the
  signature's per-example output; lower is better) and, with a ``sample``
  signature, ``fid``/``sample_confidence`` of its samples.
* ``score`` (an autoencoder): ``roc_auc`` of the anomaly score between clean
  and corrupted held-out images, and both mean scores.

The reference classifier is a parameter (``reference``: the dotted path of a
function returning :class:`~components.generative_evaluator.reference.ReferenceData`);
it fixes the image shape and the classes the judge knows. Figures for the
report (``components/figures.py``) are drawn from the candidate: generated
samples (one row per class when conditional); prior samples, a latent
traversal and reconstructions (VAE); prior samples and
reconstructions (adversarial autoencoder); samples and the held-out bits/dim
histogram (flow); clean-vs-corrupted score histograms and
reconstructions (autoencoder). Thresholds, blessing and the verdict are
:mod:`components.evaluator.blessing`'s, the flow :mod:`components.evaluator.base`'s.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from components.evaluator.base import EvaluatorExecutor, exec_property, json_property
from components.evaluator.blessing import HIGHER, LOWER
from components.evaluator.served import ServedModel
from components.figures import Figure
from components.generative_evaluator import metrics as gm
from components.generative_evaluator import reference as ref
from components.generative_evaluator.examples import raw_features, with_images
from models.base import DECODE, DENSITY, ENCODE, GENERATE, SAMPLE, SCORE

METRICS = {
    "fid": LOWER,
    "sample_confidence": HIGHER,
    "class_consistency": HIGHER,
    "neg_elbo": LOWER,
    "reconstruction_nll": LOWER,
    "kl": LOWER,
    "roc_auc": HIGHER,
    "clean_reconstruction_error": LOWER,
    "corrupted_reconstruction_error": HIGHER,
    "bits_per_dim": LOWER,
}

GRID_SIDE = 8            # unconditional samples: an 8x8 grid
SHOWN_EXAMPLES = 10      # columns of per-class grids and of reconstructions
TRAVERSAL_STEPS = 9      # latent traversal: steps per varied dimension ...
TRAVERSAL_LIMIT = 2.5    # ... over [-limit, limit]
FIGURE_EXAMPLES = 300    # eval examples of the score and bits/dim histograms
BATCH_SAMPLES = 256      # images per call of a ``sample`` signature
SCORE_OUTPUTS = ("score", "reconstruction_error")
DENSITY_OUTPUT = "bits_per_dim"


def default_cache_dir() -> str:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "tfx-model-zoo")


@functools.lru_cache(maxsize=4)
def _reference_layout(reference: str) -> tuple[tuple[int, ...], int]:
    """(image shape, number of classes) of a reference's data."""
    data = ref.load_reference(reference)
    return data.image_shape, data.num_classes


@dataclasses.dataclass(frozen=True)
class EvalData:
    """The eval split: serialized examples, raw pixels ``(n, pixels)``, images in
    [0, 1] ``(n, *shape)`` and labels (``None`` without a label feature)."""

    serialized: Sequence[bytes]
    raw: np.ndarray
    images: np.ndarray
    labels: np.ndarray | None

    def take(self, n: int) -> EvalData:
        return EvalData(self.serialized[:n], self.raw[:n], self.images[:n],
                        None if self.labels is None else self.labels[:n])

    def shown(self) -> np.ndarray:
        """Indices of the examples drawn: the first of each class where there are labels."""
        if self.labels is None:
            return np.arange(min(SHOWN_EXAMPLES, len(self.images)))
        return np.unique(self.labels, return_index=True)[1][:SHOWN_EXAMPLES]


def _image_output(outputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """The ``image`` output of a signature (its only output otherwise)."""
    if "image" in outputs:
        return outputs["image"]
    if len(outputs) != 1:
        raise ValueError(f"signature outputs {sorted(outputs)} have no 'image'")
    return next(iter(outputs.values()))


def _score_output(outputs: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """The per-example anomaly score of a ``score`` signature's outputs."""
    for key in SCORE_OUTPUTS:
        if key in outputs:
            return outputs[key].reshape(-1)
    per_example = [k for k, v in outputs.items() if v.ndim == 1 or v.shape[1:] == (1,)]
    if len(per_example) != 1:
        raise ValueError(f"cannot tell the score among the outputs {sorted(outputs)} of {name!r}; "
                         f"name it one of {SCORE_OUTPUTS}")
    return outputs[per_example[0]].reshape(-1)


def _per_example_output(outputs: Mapping[str, np.ndarray], key: str, name: str) -> np.ndarray:
    """Output ``key`` of signature ``name`` (its only per-example output otherwise), flat."""
    if key in outputs:
        return outputs[key].reshape(-1)
    per_example = [k for k, v in outputs.items() if v.ndim == 1 or v.shape[1:] == (1,)]
    if len(per_example) != 1:
        raise ValueError(f"cannot tell {key!r} among the outputs {sorted(outputs)} of {name!r}")
    return outputs[per_example[0]].reshape(-1)


def _latent(model: ServedModel, name: str) -> tuple[str, int]:
    """(name, size) of the latent input of a ``generate``/``decode`` signature (its input other than ``label``)."""
    latents = [(k, spec.shape[-1]) for k, spec in model.inputs(name).items() if k != "label"]
    if len(latents) != 1 or latents[0][1] is None:
        raise ValueError(f"signature {name!r} must take one latent vector (and optionally 'label'); "
                         f"its inputs: {sorted(model.inputs(name))}")
    return latents[0]


def grid(images: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """``(rows, columns, h, w[, c])`` float32 in [0, 1] of ``rows * columns`` images
    (a single channel dropped)."""
    images = np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    return images.reshape(rows, columns, *images.shape[1:])


class Executor(EvaluatorExecutor):
    """Evaluates ``model`` (and ``baseline_model``), writes ``evaluation`` and ``blessing``."""

    METRICS = METRICS

    def __init__(self, context: Any = None) -> None:
        super().__init__(context)
        self._judges: dict[tuple[str, str], ref.ReferenceClassifier] = {}
        # One Do() judges the candidate, maybe the baseline, and draws figures on the same
        # examples: parse them, and embed the real images with the judge, once.
        self._parsed: tuple[Sequence[bytes], EvalData] | None = None
        self._real: tuple[EvalData, tuple[str, str], np.ndarray] | None = None

    def parameters(self, exec_properties: Mapping[str, Any]) -> dict[str, Any]:
        def get(key: str, default: Any) -> Any:
            return exec_property(exec_properties, key, default)

        reference = get("reference", ref.DEFAULT_REFERENCE)
        shape = json_property(exec_properties, "image_shape", None)
        return {
            "image_key": get("image_key", "image"),
            "label_key": get("label_key", "label"),
            "image_scale": float(get("image_scale", 255.0)),
            "image_shape": tuple(int(d) for d in shape) if shape else _reference_layout(reference)[0],
            "num_samples": int(get("num_samples", 1000)),
            "seed": int(get("seed", 0)),
            "cache_dir": get("cache_dir", default_cache_dir()),
            "corruption": {**gm.DEFAULT_CORRUPTION, **json_property(exec_properties, "corruption", {})},
            "reference": reference,
        }

    # -------------------------------------------------------------- data, judge

    def judge(self, params: Mapping[str, Any]) -> ref.ReferenceClassifier:
        """The reference classifier (trained once per reference and cache folder)."""
        key = (params["reference"], params["cache_dir"])
        if key not in self._judges:
            self._judges[key] = ref.load_reference_classifier(params["cache_dir"], reference=params["reference"])
        return self._judges[key]

    def notes(self, params: Mapping[str, Any]) -> dict[str, Any]:
        judge = self._judges.get((params["reference"], params["cache_dir"]))
        return {"reference": params["reference"],
                "reference_classifier_accuracy": judge.accuracy if judge is not None else None}

    def data(self, examples: Sequence[bytes], params: Mapping[str, Any]) -> EvalData:
        """The eval split parsed (once per ``examples`` object)."""
        if self._parsed is None or self._parsed[0] is not examples:
            raw = raw_features(examples, params["image_key"], params["label_key"])
            pixels = raw[params["image_key"]]
            images = pixels.reshape((-1, *params["image_shape"])).astype(np.float32) / params["image_scale"]
            self._parsed = examples, EvalData(list(examples), pixels, images, raw.get(params["label_key"]))
        return self._parsed[1]

    def real_features(self, data: EvalData, params: Mapping[str, Any]) -> np.ndarray:
        """The judge's features of the real eval images (once per data and judge)."""
        key = (params["reference"], params["cache_dir"])
        if self._real is None or self._real[0] is not data or self._real[1] != key:
            self._real = data, key, self.judge(params).predict(data.images)[1]
        return self._real[2]

    def _parts(self, model: ServedModel) -> list[tuple[Callable[..., dict[str, float]], Callable[..., list[Figure]]]]:
        """(metrics, figures) of every role group the model serves."""
        parts = []
        if model.first(GENERATE):
            parts.append((self._generator_metrics, self._generator_figures))
        if model.first(ENCODE) and model.first(DECODE):
            if "z_log_var" in model.outputs(model.first(ENCODE)):
                parts.append((self._vae_metrics, self._vae_figures))
            else:
                parts.append((self._code_metrics, self._code_figures))
        if model.first(SCORE):
            parts.append((self._anomaly_metrics, self._anomaly_figures))
        if model.first(DENSITY):
            parts.append((self._density_metrics, self._density_figures))
        if not parts:
            raise ValueError(f"the model's signature roles {model.roles} include none the GenerativeEvaluator "
                             f"judges: '{GENERATE}', '{ENCODE}' with '{DECODE}', '{SCORE}' or '{DENSITY}'")
        return parts

    def evaluate(self, model: ServedModel, examples: Sequence[bytes], params: Mapping[str, Any]) -> dict[str, float]:
        data = self.data(examples, params)
        metrics: dict[str, float] = {}
        for compute, _ in self._parts(model):
            part = compute(model, data, params)
            repeated = sorted(set(part) & set(metrics))
            if repeated:
                raise ValueError(f"two signature roles of {model.path} give the metric(s) {repeated}")
            metrics.update(part)
        return metrics

    def figures(self, model: ServedModel, examples: Sequence[bytes], params: Mapping[str, Any]) -> list[Figure]:
        data = self.data(examples, params)
        return [figure for _, draw in self._parts(model) for figure in draw(model, data, params)]

    # ------------------------------------------------------------------ metrics

    def _sample_metrics(self, images: np.ndarray, data: EvalData,
                        params: Mapping[str, Any]) -> tuple[dict[str, float], np.ndarray]:
        probabilities, features = self.judge(params).predict(images)
        return {"fid": gm.frechet_distance(self.real_features(data, params), features),
                "sample_confidence": gm.mean_confidence(probabilities)}, probabilities

    def _generate(self, model: ServedModel, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        name = model.first(GENERATE)
        latent, _ = _latent(model, name)
        inputs = {latent: z} if labels is None else {latent: z, "label": labels}
        return _image_output(model.call(name, inputs))

    def _generator_metrics(self, model: ServedModel, data: EvalData, params: Mapping[str, Any]) -> dict[str, float]:
        name = model.first(GENERATE)
        rng = np.random.default_rng(params["seed"])
        z = rng.standard_normal((params["num_samples"], _latent(model, name)[1])).astype(np.float32)
        conditional = "label" in model.inputs(name)
        labels = np.arange(params["num_samples"]) % self.judge(params).num_classes if conditional else None
        out, probabilities = self._sample_metrics(self._generate(model, z, labels), data, params)
        if conditional:
            out["class_consistency"] = gm.class_consistency(probabilities, labels)
        return out

    def _decode(self, model: ServedModel, z: np.ndarray) -> np.ndarray:
        name = model.first(DECODE)
        return _image_output(model.call(name, {_latent(model, name)[0]: z.astype(np.float32)}))

    def _vae_metrics(self, model: ServedModel, data: EvalData, params: Mapping[str, Any]) -> dict[str, float]:
        posterior = model.call_on_examples(model.first(ENCODE), data.serialized)
        out = gm.negative_elbo(data.images, posterior["z_mean"], posterior["z_log_var"],
                               lambda z: self._decode(model, z), params["seed"])
        rng = np.random.default_rng(params["seed"])
        z = rng.standard_normal((params["num_samples"], _latent(model, model.first(DECODE))[1]))
        out.update(self._sample_metrics(self._decode(model, z), data, params)[0])
        return out

    def _sample(self, model: ServedModel, count: int) -> np.ndarray:
        """``count`` images of the ``sample`` signature (one scalar count in), in batches."""
        name = model.first(SAMPLE)
        specs = model.inputs(name)
        if len(specs) != 1 or next(iter(specs.values())).shape.rank != 0:
            raise ValueError(f"signature {name!r} ({SAMPLE}) must take one scalar count; its inputs: {sorted(specs)}")
        key, spec = next(iter(specs.items()))
        fn = model.signatures[name]
        chunks = [_image_output({k: v.numpy() for k, v in fn(**{key: tf.constant(n, spec.dtype)}).items()})
                  for n in [BATCH_SAMPLES] * (count // BATCH_SAMPLES) + [count % BATCH_SAMPLES] if n]
        return np.concatenate(chunks)

    def _prior_samples(self, model: ServedModel, count: int, seed: int) -> np.ndarray:
        """Prior samples: the ``sample`` signature's, else ``decode`` of ``z ~ N(0, I)``."""
        if model.first(SAMPLE):
            return self._sample(model, count)
        z = np.random.default_rng(seed).standard_normal((count, _latent(model, model.first(DECODE))[1]))
        return self._decode(model, z)

    def _reconstructions(self, model: ServedModel, serialized: Sequence[bytes]) -> np.ndarray:
        """``decode(encode(x))`` of a deterministic code."""
        name = model.first(ENCODE)
        codes = model.call_on_examples(name, serialized)
        if len(codes) != 1:
            raise ValueError(f"a deterministic encoder's {name!r} must give one code; it gives {sorted(codes)}")
        return self._decode(model, next(iter(codes.values())))

    def _code_metrics(self, model: ServedModel, data: EvalData, params: Mapping[str, Any]) -> dict[str, float]:
        reconstruction = self._reconstructions(model, data.serialized)
        out = {"reconstruction_nll": float(np.mean(gm.bernoulli_nll(data.images, reconstruction)))}
        out.update(self._sample_metrics(self._prior_samples(model, params["num_samples"], params["seed"]), data,
                                        params)[0])
        return out

    def _bits_per_dim(self, model: ServedModel, serialized: Sequence[bytes]) -> np.ndarray:
        name = model.first(DENSITY)
        return _per_example_output(model.call_on_examples(name, serialized), DENSITY_OUTPUT, name)

    def _density_metrics(self, model: ServedModel, data: EvalData, params: Mapping[str, Any]) -> dict[str, float]:
        bits = self._bits_per_dim(model, data.serialized)
        if not np.all(np.isfinite(bits)):
            raise ValueError(f"the {model.first(DENSITY)!r} signature gave non-finite bits/dim for "
                             f"{int(np.sum(~np.isfinite(bits)))} of {len(bits)} eval examples")
        out = {"bits_per_dim": float(np.mean(bits))}
        if model.first(SAMPLE):
            out.update(self._sample_metrics(self._sample(model, params["num_samples"]), data, params)[0])
        return out

    def _scores(self, model: ServedModel, data: EvalData,
                params: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
        """The score signature's outputs on clean and corrupted examples, and the corrupted images."""
        name, corruption = model.first(SCORE), params["corruption"]
        corrupted = gm.corrupt(data.images, corruption["kind"], corruption["strength"], params["seed"])
        corrupted_raw = np.rint(corrupted * params["image_scale"]).astype(np.int64).reshape(len(corrupted), -1)
        clean = model.call_on_examples(name, data.serialized)
        noisy = model.call_on_examples(name, with_images(data.serialized, params["image_key"], corrupted_raw))
        return clean, noisy, corrupted

    def _anomaly_metrics(self, model: ServedModel, data: EvalData, params: Mapping[str, Any]) -> dict[str, float]:
        name = model.first(SCORE)
        clean, noisy, _ = self._scores(model, data, params)
        clean, noisy = _score_output(clean, name), _score_output(noisy, name)
        return {"roc_auc": gm.roc_auc(clean, noisy), "clean_reconstruction_error": float(np.mean(clean)),
                "corrupted_reconstruction_error": float(np.mean(noisy))}

    # ------------------------------------------------------------------ figures

    def _generator_figures(self, model: ServedModel, data: EvalData, params: Mapping[str, Any]) -> list[Figure]:
        name = model.first(GENERATE)
        rng = np.random.default_rng(params["seed"])
        size = _latent(model, name)[1]
        if "label" not in model.inputs(name):
            z = rng.standard_normal((GRID_SIDE ** 2, size)).astype(np.float32)
            return [Figure("generated", "image_grid", f"{GRID_SIDE ** 2} generated samples",
                           f"The {name} signature on {GRID_SIDE ** 2} latent vectors z ~ N(0, I) "
                           f"(seed {params['seed']}).",
                           {"images": grid(self._generate(model, z, None), GRID_SIDE, GRID_SIDE)})]
        classes = _reference_layout(params["reference"])[1]
        z = np.tile(rng.standard_normal((SHOWN_EXAMPLES, size)).astype(np.float32), (classes, 1))
        labels = np.repeat(np.arange(classes), SHOWN_EXAMPLES)
        return [Figure("generated", "image_grid", "Generated samples, one row per class",
                       f"The {name} signature on {SHOWN_EXAMPLES} latent vectors (seed {params['seed']}), "
                       f"each one for every class 0..{classes - 1}: one row per class, the same z down "
                       "each column.",
                       {"images": grid(self._generate(model, z, labels), classes, SHOWN_EXAMPLES)},
                       {"rows": [str(c) for c in range(classes)], "row_title": "class"})]

    def _vae_figures(self, model: ServedModel, data: EvalData, params: Mapping[str, Any]) -> list[Figure]:
        decode = model.first(DECODE)
        size = _latent(model, decode)[1]
        rng = np.random.default_rng(params["seed"])
        samples = self._decode(model, rng.standard_normal((GRID_SIDE ** 2, size)))

        values = np.linspace(-TRAVERSAL_LIMIT, TRAVERSAL_LIMIT, TRAVERSAL_STEPS, dtype=np.float32)
        rows = len(values) if size > 1 else 1
        z = np.zeros((rows, len(values), size), np.float32)
        if size > 1:
            z[..., 0], z[..., 1] = values[:, None], values[None, :]
        else:
            z[..., 0] = values
        traversal = self._decode(model, z.reshape(-1, size))
        ticks = [f"{v:+.2g}" for v in values]
        varied = "the first two latent dimensions (rows z[0], columns z[1])" if size > 1 else "the latent"
        traversal_labels = ({"rows": ticks, "columns": ticks, "row_title": "z[0]", "column_title": "z[1]"}
                            if size > 1 else {"columns": ticks, "column_title": "z[0]"})

        shown = data.shown()
        z_mean = model.call_on_examples(model.first(ENCODE), [data.serialized[i] for i in shown])["z_mean"]
        pairs = np.concatenate([data.images[shown], self._decode(model, z_mean).reshape(data.images[shown].shape)])
        return [
            Figure("prior_samples", "image_grid", "Samples from the prior",
                   f"The {decode} signature on {GRID_SIDE ** 2} latent vectors z ~ N(0, I) (seed {params['seed']}).",
                   {"images": grid(samples, GRID_SIDE, GRID_SIDE)}),
            Figure("latent_traversal", "image_grid", "Latent traversal",
                   f"The {decode} signature with {varied} over [{-TRAVERSAL_LIMIT}, {TRAVERSAL_LIMIT}], the other "
                   f"{max(size - 2, 0)} dimensions 0.",
                   {"images": grid(traversal, rows, len(values))}, traversal_labels),
            Figure("reconstructions", "image_grid", "Reconstructions",
                   f"{len(shown)} eval examples (the first of each class), encoded (z_mean) and decoded.",
                   {"images": grid(pairs, 2, len(shown))}, {"rows": ["original", "decoded"]}),
        ]

    def _code_figures(self, model: ServedModel, data: EvalData, params: Mapping[str, Any]) -> list[Figure]:
        source = (f"the {model.first(SAMPLE)} signature" if model.first(SAMPLE)
                  else f"the {model.first(DECODE)} signature on z ~ N(0, I) (seed {params['seed']})")
        samples = self._prior_samples(model, GRID_SIDE ** 2, params["seed"])
        shown = data.shown()
        pairs = np.concatenate([data.images[shown],
                                self._reconstructions(model, [data.serialized[i] for i in shown]).reshape(
                                    data.images[shown].shape)])
        return [
            Figure("prior_samples", "image_grid", "Samples from the prior",
                   f"{GRID_SIDE ** 2} images decoded from prior draws: {source}.",
                   {"images": grid(samples, GRID_SIDE, GRID_SIDE)}),
            Figure("reconstructions", "image_grid", "Reconstructions",
                   f"{len(shown)} eval examples (the first of each class), encoded and decoded.",
                   {"images": grid(pairs, 2, len(shown))}, {"rows": ["original", "decoded"]}),
        ]

    def _density_figures(self, model: ServedModel, data: EvalData, params: Mapping[str, Any]) -> list[Figure]:
        name = model.first(DENSITY)
        data = data.take(FIGURE_EXAMPLES)
        bits = self._bits_per_dim(model, data.serialized)
        figures = [Figure("bits_per_dim", "histogram", "Held-out bits per dimension",
                          f"The {name} signature on {len(bits)} eval examples: mean {np.mean(bits):.3f} bits/dim "
                          "(lower is better).",
                          {"eval": bits.astype(np.float32)}, {"x": "bits per dimension"})]
        if model.first(SAMPLE):
            figures.append(Figure("samples", "image_grid", f"{GRID_SIDE ** 2} samples",
                                  f"The {model.first(SAMPLE)} signature, {GRID_SIDE ** 2} images.",
                                  {"images": grid(self._sample(model, GRID_SIDE ** 2), GRID_SIDE, GRID_SIDE)}))
        return figures

    def _anomaly_figures(self, model: ServedModel, data: EvalData, params: Mapping[str, Any]) -> list[Figure]:
        name, corruption = model.first(SCORE), params["corruption"]
        data = data.take(FIGURE_EXAMPLES)
        clean, noisy, corrupted = self._scores(model, data, params)
        clean_scores, noisy_scores = _score_output(clean, name), _score_output(noisy, name)
        noise = f"{corruption['kind']} noise of strength {corruption['strength']}"
        figures = [Figure(
            "anomaly_scores", "histogram", "Anomaly score, clean vs corrupted",
            f"The {name} signature on {len(clean_scores)} clean eval examples and the same with {noise}: "
            f"ROC AUC {gm.roc_auc(clean_scores, noisy_scores):.4f} (1 = every corrupted example scores higher).",
            {"clean": clean_scores.astype(np.float32), "corrupted": noisy_scores.astype(np.float32)},
            {"x": "anomaly score"})]
        if "reconstruction" in clean:
            shown = data.shown()
            rows = [data.images[shown], clean["reconstruction"][shown], corrupted[shown],
                    noisy["reconstruction"][shown]]
            figures.append(Figure(
                "anomaly_reconstructions", "image_grid", "Reconstructions, clean and corrupted",
                f"The {name} signature on {len(shown)} eval examples, clean and with {noise}.",
                {"images": grid(np.concatenate([r.reshape(data.images[shown].shape) for r in rows]), 4, len(shown))},
                {"rows": ["original", "reconstructed", "corrupted", "reconstructed"]}))
        return figures

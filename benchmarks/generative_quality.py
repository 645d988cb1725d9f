"""Quality bars of the generative families on sklearn digits.

Trains each family with its own ``build``/``train`` on a seeded stratified
split of sklearn's digits (pixels in [0, 1]) and measures the held-out
figures through the family's serving-signature functions, with the metrics
and the reference digits classifier of ``components.generative_evaluator``:

* vae: held-out negative ELBO (nats/image); reference-classifier mean
  confidence on prior samples (bar >= 0.8); FID.
* gan / vanilla_gan / conditional_gan: FID on the reference classifier's features; share of
  conditional samples classified as the requested digit (bar >= 0.90).
* autoencoder (each variant): ROC AUC of the reconstruction error between
  clean and corrupted held-out digits (bar >= 0.95).
* aae (adversarial autoencoder): FID and mean confidence of its ``sample``
  signature's prior draws, beside the DCGAN's and the VAE's; held-out
  reconstruction NLL (nats/image); with the mixture prior also the share of
  draws from component ``c`` that the reference classifier calls ``c``.
* realnvp (flow): held-out bits/dim of its ``log_prob`` signature (exact
  density of the dequantised pixels; a bound on the 256-level pixels' bits)
  beside the VAE's negative ELBO in bits/dim, twice: as trained (Bernoulli
  cross-entropy of intensities, not a normalised likelihood of the 256
  levels) and re-read as a Binomial(255, p) likelihood of the levels (a true
  bound in the flow's unit); FID and mean confidence of its samples.

Run: ``python benchmarks/generative_quality.py [--families vae gan ...] [--cache-dir DIR]``
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

FAMILIES = ("vae", "gan", "vanilla_gan", "conditional_gan", "autoencoder", "aae", "realnvp")


def _dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, shuffle: bool) -> Any:
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(({"image": x}, y))
    return (ds.shuffle(len(x), seed=seed) if shuffle else ds).batch(batch_size)


def _train(name: str, overrides: dict[str, Any], split: tuple[np.ndarray, ...], seed: int) -> tuple[Any, Any, Any]:
    from models import aae, autoencoder, flow, gan, registry, vae  # noqa: F401  (registers the families)
    from models.base import DataSpec, FeatureInfo

    family = registry.get(name)
    x_train, x_test, y_train, y_test = split
    data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)
    hp = family.hparams({"seed": seed, **overrides})
    model = family.build(hp, data)
    start = time.perf_counter()
    family.train(model, hp, _dataset(x_train, y_train, hp.batch_size, seed, True),
                 _dataset(x_test, y_test, 256, seed, False))
    print(f"[{name} {overrides}] trained in {time.perf_counter() - start:.0f}s")
    return family, model, family.signatures(model, hp, data)


def _numpy(signature: Any, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in signature.fn(inputs).items()}


def _anchor(rows: list[tuple[str, str, float, str]], model: str, figure: str, label: str) -> str:
    """``"<label> <value>"`` of a figure measured earlier in this run, or ``"reported"``."""
    for name, measured, value, _ in rows:
        if name == model and measured == figure:
            return f"{label} {value:.4f}"
    return "reported"


def parse_args(description: str, families: tuple[str, ...]) -> argparse.Namespace:
    """The command line every digit-generator benchmark takes (this one and lapgan_quality.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--families", nargs="+", default=list(families), choices=families)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=None, help="override every family's epochs")
    parser.add_argument("--cache-dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "zoo-reference"))
    return parser.parse_args()


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], FAMILIES)

    import keras

    from components.generative_evaluator import metrics as gm
    from components.generative_evaluator.reference import (
        load_digits_split,
        load_reference_classifier,
    )

    keras.utils.set_random_seed(args.seed)
    split = load_digits_split(args.seed)
    x_test = split[1]
    judge = load_reference_classifier(args.cache_dir)
    _, real_features = judge.predict(x_test)
    rng = np.random.default_rng(args.seed)
    epochs = {} if args.epochs is None else {"epochs": args.epochs}
    rows: list[tuple[str, str, float, str]] = [
        ("reference CNN", "held-out accuracy", judge.accuracy, "-")]

    if "vae" in args.families:
        _, model, sig = _train("vae", epochs, split, args.seed)
        posterior = _numpy(sig["encode"], {"image": x_test})

        def decode(z: np.ndarray) -> np.ndarray:
            return _numpy(sig["decode"], {"z": z})["image"]
        elbo = gm.negative_elbo(x_test, posterior["z_mean"], posterior["z_log_var"], decode, args.seed)
        samples = decode(rng.standard_normal((args.samples, model.latent_dim)).astype(np.float32))
        probabilities, features = judge.predict(samples)
        binomial = gm.binomial_negative_elbo(x_test, posterior["z_mean"], posterior["z_log_var"], decode,
                                             seed=args.seed)
        dims = int(np.prod(x_test.shape[1:]))
        vae_bits = gm.bits_per_dim(binomial["neg_elbo"], dims)
        rows += [("vae", "held-out -ELBO (nats/image)", elbo["neg_elbo"], "reported"),
                 ("vae", "  reconstruction NLL / KL", elbo["reconstruction_nll"], f"KL {elbo['kl']:.2f}"),
                 ("vae", "-ELBO in bits/dim (Bernoulli, as trained)", gm.bits_per_dim(elbo["neg_elbo"], dims),
                  "not a likelihood of the 256 levels"),
                 ("vae", "-ELBO bits/dim (Binomial(255,p), 256-lv)", vae_bits, "bound, flow's unit"),
                 ("vae", "sample mean confidence", gm.mean_confidence(probabilities), ">= 0.80"),
                 ("vae", "sample FID", gm.frechet_distance(real_features, features), "reported")]

    for name in ("gan", "vanilla_gan", "conditional_gan"):
        if name not in args.families:
            continue
        _, model, sig = _train(name, epochs, split, args.seed)
        inputs = {"z": rng.standard_normal((args.samples, model.latent_dim)).astype(np.float32)}
        if model.conditional:
            inputs["label"] = np.arange(args.samples) % 10
        probabilities, features = judge.predict(_numpy(sig["generate"], inputs)["image"])
        rows += [(name, "FID (reference features)", gm.frechet_distance(real_features, features), "reported"),
                 (name, "sample mean confidence", gm.mean_confidence(probabilities), "reported")]
        if model.conditional:
            rows.append((name, "class consistency", gm.class_consistency(probabilities, inputs["label"]),
                         ">= 0.90"))

    if "autoencoder" in args.families:
        corrupted = gm.corrupt(x_test, "salt_pepper", 0.2, args.seed)
        for variant in ("undercomplete", "denoising", "sparse"):
            _, _, sig = _train("autoencoder", {"variant": variant, **epochs}, split, args.seed)
            clean = _numpy(sig["score"], {"image": x_test})["reconstruction_error"]
            noisy = _numpy(sig["score"], {"image": corrupted})["reconstruction_error"]
            rows.append((f"autoencoder/{variant}", "ROC AUC clean vs salt-and-pepper 20%",
                         gm.roc_auc(clean, noisy), ">= 0.95"))

    if "aae" in args.families:
        _, _, sig = _train("aae", epochs, split, args.seed)
        code = _numpy(sig["encode"], {"image": x_test})["z"]
        reconstruction = _numpy(sig["decode"], {"z": code})["image"]
        probabilities, features = judge.predict(_numpy(sig["sample"], {"count": np.int32(args.samples)})["image"])
        rows += [("aae", "held-out reconstruction NLL (nats/image)",
                  float(np.mean(gm.bernoulli_nll(x_test, reconstruction))), "reported"),
                 ("aae", "sample FID (reference features)", gm.frechet_distance(real_features, features),
                  _anchor(rows, "gan", "FID (reference features)", "DCGAN")),
                 ("aae", "sample mean confidence", gm.mean_confidence(probabilities),
                  _anchor(rows, "vae", "sample mean confidence", "VAE"))]
        # The mixture prior: one component per class, the discriminator told the class.
        _, model, sig = _train("aae", {"prior": "mixture", **epochs}, split, args.seed)
        probabilities, features = judge.predict(_numpy(sig["sample"], {"count": np.int32(args.samples)})["image"])
        components = np.arange(args.samples) % 10
        by_component = np.asarray(model.decode(model.sample_prior(args.samples, components)))
        rows += [("aae/mixture", "sample FID (reference features)", gm.frechet_distance(real_features, features),
                  "reported"),
                 ("aae/mixture", "sample mean confidence", gm.mean_confidence(probabilities), "reported"),
                 ("aae/mixture", "share of component-c draws judged c",
                  gm.class_consistency(judge.predict(by_component)[0], components), "reported")]

    if "realnvp" in args.families:
        _, _, sig = _train("realnvp", epochs, split, args.seed)
        # The data's pixels are k/255 for the 17 levels sklearn's digits use; the flow counts 256 levels.
        x_levels = np.rint(x_test * 255.0) / 255.0
        bits = _numpy(sig["log_prob"], {"image": x_levels})["bits_per_dim"]
        probabilities, features = judge.predict(_numpy(sig["sample"], {"count": np.int32(args.samples)})["image"])
        rows += [("realnvp", "held-out bits/dim (exact flow, 256-lv)", float(np.mean(bits)),
                  _anchor(rows, "vae", "-ELBO bits/dim (Binomial(255,p), 256-lv)", "VAE bound")),
                 ("realnvp", "sample FID (reference features)", gm.frechet_distance(real_features, features),
                  _anchor(rows, "gan", "FID (reference features)", "DCGAN")),
                 ("realnvp", "sample mean confidence", gm.mean_confidence(probabilities),
                  _anchor(rows, "vae", "sample mean confidence", "VAE"))]

    print(f"\n{'model':26s} {'figure':42s} {'measured':>10s}  anchor")
    for model_name, figure, value, anchor in rows:
        print(f"{model_name:26s} {figure:42s} {value:10.4f}  {anchor}")


if __name__ == "__main__":
    main()

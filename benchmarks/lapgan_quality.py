"""LAPGAN beside the digit generators it joins: Frechet distance and sample confidence of the reference
digits classifier, against the DCGAN, the vanilla GAN and the VAE, trained and judged the same way.

Reuses ``benchmarks/generative_quality.py``'s training and measuring (``_train``, ``_numpy``: each family's
own ``build``/``train`` on the same seeded split of sklearn's digits, figures through its serving
signatures) and ``components.generative_evaluator``'s metrics and reference classifier, as the
GenerativeEvaluator judges ``digits_lapgan``.

Run: ``python benchmarks/lapgan_quality.py [--families lapgan gan vanilla_gan vae] [--epochs N]``
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generative_quality import _numpy, _train, parse_args

FAMILIES = ("lapgan", "gan", "vanilla_gan", "vae")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], FAMILIES)

    import keras

    from components.generative_evaluator import metrics as gm
    from components.generative_evaluator.reference import load_digits_split, load_reference_classifier

    keras.utils.set_random_seed(args.seed)
    split = load_digits_split(args.seed)
    judge = load_reference_classifier(args.cache_dir)
    _, real_features = judge.predict(split[1])
    rng = np.random.default_rng(args.seed)
    epochs = {} if args.epochs is None else {"epochs": args.epochs}
    rows = [("reference CNN", "held-out accuracy", judge.accuracy)]
    for name in args.families:
        _, model, sig = _train(name, epochs, split, args.seed)
        if name == "vae":
            images = _numpy(sig["decode"], {"z": rng.standard_normal((args.samples, model.latent_dim))
                                            .astype(np.float32)})["image"]
        else:
            images = _numpy(sig["generate"], {"z": rng.standard_normal((args.samples, model.latent_dim))
                                              .astype(np.float32)})["image"]
        probabilities, features = judge.predict(images)
        rows += [(name, "sample FID (reference features)", gm.frechet_distance(real_features, features)),
                 (name, "sample mean confidence", gm.mean_confidence(probabilities))]

    figures = sorted({figure for _, figure, _ in rows[1:]})
    print(f"\nreference CNN held-out accuracy {judge.accuracy:.4f}; {args.samples} samples per generator"
          f"{'' if args.epochs is None else f', {args.epochs} epochs each'}")
    print(f"{'figure':34s} " + " ".join(f"{name:>12s}" for name in args.families))
    for figure in figures:
        values = {name: value for name, f, value in rows if f == figure}
        print(f"{figure:34s} " + " ".join(f"{values[name]:12.4f}" for name in args.families))


if __name__ == "__main__":
    main()

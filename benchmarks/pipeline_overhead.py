"""How long the default pipeline takes, per component, and what TFX costs over bare Keras.

    .venv/bin/python benchmarks/pipeline_overhead.py [--epochs N]

1. ``zoo run digits`` in a fresh output folder (first run), then again
   unchanged (every component but the resolver/Evaluator/Pusher cached):
   process wall time and each component's time from ML Metadata.
2. A bare ``model.fit`` of the same CNN, same hyperparameters, on the same
   digits split, loaded straight from TFDS into memory.
3. The ratio: pipeline time over bare fit time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed_run(output: str, epochs: int | None) -> float:
    command = [os.path.join(os.path.dirname(sys.executable), "zoo"), "run", "digits", "--output", output,
               "--no-report"]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode not in (0, 3):
        sys.exit(f"zoo run failed:\n{result.stderr[-2000:]}")
    return seconds


def bare_fit_seconds(epochs: int | None) -> tuple[float, float]:
    """(seconds, held-out accuracy) of a plain fit of the digits CNN."""
    import keras
    import numpy as np
    import tensorflow_datasets as tfds

    import datasets  # noqa: F401
    import models
    from models.base import DataSpec, FeatureInfo
    from pipelines import registry

    config = registry.get("digits")

    def arrays(split: str):
        rows = list(tfds.as_numpy(tfds.builder("digits").as_dataset(split=split)))
        x = np.stack([r["image"] for r in rows]).astype("float32") / 255.0
        return x, np.array([r["label"] for r in rows])

    (x_train, y_train), (x_test, y_test) = arrays("train"), arrays("test")
    family = models.get(config.model)
    overrides = dict(config.hparams, **({"epochs": epochs} if epochs else {}))
    hparams = family.hparams(overrides)
    keras.utils.set_random_seed(config.seed)
    model = family.build(hparams, DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10))
    callbacks = [models.base.cosine_schedule(hparams.learning_rate, hparams.epochs)]
    start = time.perf_counter()
    model.fit({"image": x_train}, y_train, batch_size=hparams.batch_size, epochs=hparams.epochs,
              validation_data=({"image": x_test}, y_test), callbacks=callbacks, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(np.argmax(model.predict({"image": x_test}, verbose=0), -1) == y_test))
    return seconds, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, help="override the CNN's epochs (default: the pipeline's)")
    args = parser.parse_args()
    from pipelines.runs import load_runs

    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as output:
        first = timed_run(output, args.epochs)
        rerun = timed_run(output, args.epochs)
        runs = load_runs(os.path.join(output, "metadata.sqlite"), "digits")
    print(f"{'component':32s} {'first run':>10s} {'re-run':>10s}")
    for step_first, step_again in zip(runs[0].steps, runs[1].steps):
        print(f"{step_first.node:32s} {step_first.seconds:9.1f}s {step_again.seconds:6.1f}s {step_again.state}")
    print(f"{'components, summed':32s} {runs[0].seconds:9.1f}s {runs[1].seconds:6.1f}s")
    print(f"{'zoo run process (wall)':32s} {first:9.1f}s {rerun:6.1f}s")

    fit_seconds, accuracy = bare_fit_seconds(args.epochs)
    print(f"\nbare keras fit of the same CNN: {fit_seconds:.1f}s (held-out accuracy {accuracy:.4f})")
    print(f"TFX overhead: components summed / bare fit = {runs[0].seconds / fit_seconds:.2f}x; "
          f"process wall / bare fit = {first / fit_seconds:.2f}x")


if __name__ == "__main__":
    main()

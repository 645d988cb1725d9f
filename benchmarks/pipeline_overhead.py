"""How long the default pipeline takes, per component, against a bare Keras fit.

    .venv/bin/python benchmarks/pipeline_overhead.py [--epochs N]

In a fresh output folder, four ``zoo run digits`` processes in a row:

1. the first run (everything runs);
2. an unchanged re-run: a no-op (``pipelines/run_key.py``), no TensorFlow;
3. the same, ``--force``d through TFX: every component cached but the
   resolver, the Evaluator (its baseline is now the candidate itself) and the Pusher;
4. a hyperparameter edit (``--hparam dropout=...``): Trainer onward re-run.

Then the anchors, side by side: importing TensorFlow in a fresh process, the
import of what ``zoo run`` loads for a run (the factory and the Trainer
module), and a bare ``model.fit`` of the same CNN, same hyperparameters, on
the same split loaded straight from TFDS into memory. The goal of the edit
re-run is at most 2x (bare fit + importing TensorFlow). Also printed: the
lines the first run prints.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed_run(output: str, epochs: int | None, *extra: str) -> tuple[float, list[str]]:
    """Wall seconds of one ``zoo run digits`` process, and the lines it printed."""
    command = [os.path.join(os.path.dirname(sys.executable), "zoo"), "run", "digits", "--output", output, *extra]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode not in (0, 3):
        sys.exit(f"zoo run failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return seconds, (result.stdout + result.stderr).strip().splitlines()


def import_seconds(statement: str) -> float:
    """Wall seconds of a fresh interpreter that runs ``statement`` (an import)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


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
        first, printed = timed_run(output, args.epochs)
        no_op, no_op_printed = timed_run(output, args.epochs)
        forced, _ = timed_run(output, args.epochs, "--force")
        edited, _ = timed_run(output, args.epochs, "--hparam", "dropout=0.15")
        runs = load_runs(os.path.join(output, "metadata.sqlite"), "digits")
    first_run, forced_run, edited_run = runs
    print(f"{'component':32s} {'first run':>10s} {'forced re-run':>14s} {'hparam edit':>12s}")
    for a, b, c in zip(first_run.steps, forced_run.steps, edited_run.steps):
        print(f"{a.node:32s} {a.seconds:9.1f}s {b.seconds:7.1f}s {b.state:6s} {c.seconds:6.1f}s {c.state:6s}")
    print(f"{'components, summed':32s} {first_run.seconds:9.1f}s {forced_run.seconds:7.1f}s {'':6s} "
          f"{edited_run.seconds:6.1f}s")
    print(f"{'zoo run process (wall)':32s} {first:9.1f}s {forced:7.1f}s {'':6s} {edited:6.1f}s")
    print(f"{'no-op re-run process (wall)':32s} {no_op:9.1f}s   ({no_op_printed[0][:60]}...)")
    print(f"lines printed by the first run: {len(printed)}")

    tf_import = import_seconds("import tensorflow")
    run_import = import_seconds("import pipelines.factory, components.trainer.module")
    fit_seconds, accuracy = bare_fit_seconds(args.epochs)
    anchor = fit_seconds + tf_import
    print(f"\nimport tensorflow (fresh process): {tf_import:.1f}s; "
          f"import of a run's code (factory + Trainer module): {run_import:.1f}s "
          f"({run_import / first:.0%} of the first run's wall time)")
    print(f"bare keras fit of the same CNN: {fit_seconds:.1f}s (held-out accuracy {accuracy:.4f}); "
          f"anchor = bare fit + import tensorflow = {anchor:.1f}s")
    print(f"hyperparameter-edit re-run: {edited:.1f}s = {edited / anchor:.2f}x the anchor (goal <= 2x); "
          f"components {edited_run.seconds:.1f}s")
    print(f"first run: {first:.1f}s = {first / anchor:.2f}x the anchor; components summed / bare fit = "
          f"{first_run.seconds / fit_seconds:.2f}x")


if __name__ == "__main__":
    main()

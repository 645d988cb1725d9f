"""How long the default pipeline takes, per component, against a bare Keras fit.

    .venv/bin/python benchmarks/pipeline_overhead.py [--epochs N] [--edits K]

In a fresh output folder, ``zoo run digits`` processes in a row:

1. the first run (everything runs);
2. an unchanged re-run: a no-op (``pipelines/run_key.py``), no TensorFlow;
3. the same, ``--force``d through TFX: every component cached but the
   resolver, the Evaluator (its baseline is now the candidate itself) and the Pusher;
4. ``K`` hyperparameter edits (``--hparam dropout=...``, a new value each):
   Trainer onward re-run (the best of them is the figure: on a shared machine
   the others say how much the load moved it).

Then the anchors: importing TensorFlow in a fresh process, the import of what
``zoo run`` loads for a run (the factory and the Trainer module), and a bare
``model.fit`` of the same CNN, same hyperparameters, on the same split loaded
straight from TFDS into memory. The goal of the edit re-run is at most 2x
(bare fit + importing TensorFlow).

Every figure is printed side by side with that anchor, as wall seconds and as
CPU seconds (user + system, all threads and child processes: less sensitive to
other users' load than wall time), each with the 1-minute load average while
it ran. Also printed: the lines the first run prints, and how many of the
modules a run imports have no cached bytecode (an environment built without
``--compile-bytecode`` under ``PYTHONDONTWRITEBYTECODE=1`` compiles them in
every process: all figures are then slower).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_CODE = "import pipelines.factory, components.trainer.module"
# Prints "<modules without cached bytecode> <modules from .py files>" after ``RUN_CODE``; ``-B`` so that
# the check itself writes nothing.
BYTECODE_CHECK = (RUN_CODE + "\nimport importlib.util, os, sys\n"
                  "files = [m.__file__ for m in list(sys.modules.values()) if (getattr(m, '__file__', None) or '')"
                  ".endswith('.py')]\n"
                  "print(sum(not os.path.exists(importlib.util.cache_from_source(f)) for f in files), len(files))")


@dataclasses.dataclass
class Timing:
    """Wall and CPU seconds of one measured step, and the load average around it."""

    wall: float
    cpu: float
    load: tuple[float, float]
    lines: list[str] = dataclasses.field(default_factory=list)

    def loads(self) -> str:
        return f"load {self.load[0]:.1f}->{self.load[1]:.1f}"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_process(command: list[str], ok: tuple[int, ...] = (0,)) -> Timing:
    """Wall and CPU seconds of one child process (and its children), and what it printed."""
    load, cpu, start = os.getloadavg()[0], _children_cpu(), time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if result.returncode not in ok:
        sys.exit(f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return Timing(wall, cpu, (load, os.getloadavg()[0]), (result.stdout + result.stderr).strip().splitlines())


def timed_run(output: str, epochs: int | None, *extra: str) -> Timing:
    """One ``zoo run digits`` process (exit 3, not blessed, counts as a run)."""
    command = [os.path.join(os.path.dirname(sys.executable), "zoo"), "run", "digits", "--output", output, *extra]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    return timed_process(command, ok=(0, 3))


def timed_import(statement: str) -> Timing:
    """A fresh interpreter that runs ``statement`` (an import)."""
    return timed_process([sys.executable, "-c", statement])


def bytecode_missing() -> tuple[int, int]:
    """(modules without cached bytecode, modules from .py files) that importing a run's code loads."""
    result = subprocess.run([sys.executable, "-B", "-c", BYTECODE_CHECK], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    missing, total = result.stdout.split()[-2:]
    return int(missing), int(total)


def bare_fit(epochs: int | None) -> tuple[Timing, float]:
    """The plain fit of the digits CNN (in this process) and its held-out accuracy."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up lines, as a quiet run
    import keras
    import numpy as np
    import tensorflow_datasets as tfds

    import datasets  # noqa: F401
    from models import registry as models
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
    load, cpu, start = os.getloadavg()[0], time.process_time(), time.perf_counter()
    model.fit({"image": x_train}, y_train, batch_size=hparams.batch_size, epochs=hparams.epochs,
              validation_data=({"image": x_test}, y_test), callbacks=callbacks, verbose=0)
    timing = Timing(time.perf_counter() - start, time.process_time() - cpu, (load, os.getloadavg()[0]))
    accuracy = float(np.mean(np.argmax(model.predict({"image": x_test}, verbose=0), -1) == y_test))
    return timing, accuracy


def versus(what: str, timing: Timing, anchor: Timing, note: str = "") -> str:
    """One line: ``timing`` as wall and CPU seconds, each as a multiple of ``anchor``'s."""
    return (f"{what:34s} {timing.wall:7.1f}s {timing.wall / anchor.wall:5.2f}x  {timing.cpu:7.1f}s "
            f"{timing.cpu / anchor.cpu:5.2f}x  {timing.loads()}{note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, help="override the CNN's epochs (default: the pipeline's)")
    parser.add_argument("--edits", type=int, default=1, help="hyperparameter-edit re-runs (default 1; the best "
                                                             "is the figure)")
    args = parser.parse_args()
    from pipelines.runs import load_runs

    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as output:
        first = timed_run(output, args.epochs)
        no_op = timed_run(output, args.epochs)
        forced = timed_run(output, args.epochs, "--force")
        edits = [timed_run(output, args.epochs, "--hparam", f"dropout={0.15 + 0.01 * i:.2f}")
                 for i in range(max(args.edits, 1))]
        runs = load_runs(os.path.join(output, "metadata.sqlite"), "digits")
    first_run, forced_run, *edit_runs = runs
    best = min(range(len(edits)), key=lambda i: edits[i].wall)
    edited, edited_run = edits[best], edit_runs[best]

    print(f"{'component':32s} {'first run':>10s} {'forced re-run':>14s} {'hparam edit':>12s}")
    for a, b, c in zip(first_run.steps, forced_run.steps, edited_run.steps):
        print(f"{a.node:32s} {a.seconds:9.1f}s {b.seconds:7.1f}s {b.state:6s} {c.seconds:6.1f}s {c.state:6s}")
    print(f"{'components, summed':32s} {first_run.seconds:9.1f}s {forced_run.seconds:7.1f}s {'':6s} "
          f"{edited_run.seconds:6.1f}s")
    print(f"lines printed by the first run: {len(first.lines)}; by the no-op re-run: {len(no_op.lines)} "
          f"({no_op.lines[0][:70]}...)")

    tf_import = timed_import("import tensorflow")
    run_import = timed_import(RUN_CODE)
    missing, modules = bytecode_missing()
    fit, accuracy = bare_fit(args.epochs)
    anchor = Timing(fit.wall + tf_import.wall, fit.cpu + tf_import.cpu, (tf_import.load[0], fit.load[1]))

    print(f"\n{'':34s} {'wall':>8s} {'/anchor':>6s} {'CPU':>8s} {'/anchor':>7s}")
    print(versus("import tensorflow (fresh process)", tf_import, anchor))
    print(versus("bare keras fit of the same CNN", fit, anchor, f"  (held-out accuracy {accuracy:.4f})"))
    print(versus("anchor = bare fit + import TF", anchor, anchor))
    print(versus("import of a run's code", run_import, anchor,
                 f"  (factory + Trainer module; {run_import.wall / first.wall:.0%} of the first run's wall)"))
    print(versus("first run", first, anchor, f"  (components {first_run.seconds:.1f}s)"))
    print(versus("no-op re-run", no_op, anchor))
    print(versus("forced re-run (all cached)", forced, anchor, f"  (components {forced_run.seconds:.1f}s)"))
    for i, timing in enumerate(edits):
        mark = " <- the figure" if i == best and len(edits) > 1 else ""
        print(versus(f"hyperparameter-edit re-run{f' {i + 1}' if len(edits) > 1 else ''}", timing, anchor,
                     f"  (components {edit_runs[i].seconds:.1f}s){mark}"))
    verdict = "met" if edited.wall <= 2 * anchor.wall else "NOT met"
    print(f"\nhyperparameter-edit re-run: {edited.wall:.1f}s = {edited.wall / anchor.wall:.2f}x the anchor "
          f"({anchor.wall:.1f}s): goal <= 2x {verdict}; in CPU seconds {edited.cpu / anchor.cpu:.2f}x")
    print(f"first run: components summed / bare fit = {first_run.seconds / fit.wall:.2f}x")
    if missing > modules // 100:
        print(f"WARNING: {missing} of the {modules} modules a run imports have no cached bytecode: this "
              "environment was not byte-compiled (make env does it), every process above compiled them")
    else:
        print(f"bytecode: {modules - missing} of the {modules} modules a run imports are byte-compiled")


if __name__ == "__main__":
    main()

"""Generative and energy-based families through the same pipeline, end to end.

For each family, on a tiny training budget: with lenient thresholds the model
is blessed, passes serving validation, is pushed, and the pushed SavedModel
answers through every signature it exports; with the pipeline's real
thresholds the same model is judged again and is not pushed.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = pytest.mark.pipeline

CASES = {
    # pipeline: (hyperparameters for a tiny budget, lenient thresholds)
    "digits_vae": ({"epochs": 2, "steps_per_epoch": 5},
                   [("neg_elbo", None, 1e6, False)]),
    "digits_cgan": ({"epochs": 2, "steps_per_epoch": 5},
                    [("class_consistency", 0.0, None, True)]),
    "digits_dbn": ({"epochs": 2, "pretrain_epochs": 1, "steps_per_epoch": 5},
                   [("sparse_categorical_accuracy", 0.0, None, True)]),
}


def _run(config, output: str):
    from pipelines.runner import Paths, run_pipeline
    from pipelines.runs import load_runs

    paths = Paths(output)
    run_pipeline(config, paths, echo=lambda line: None)
    return load_runs(paths.metadata, config.name)[-1]


def _call_every_signature(model_dir: str, records: list[bytes]) -> dict[str, dict[str, np.ndarray]]:
    import tensorflow as tf

    from components.serving_validator.executor import request_inputs

    loaded = tf.saved_model.load(model_dir)
    results = {}
    for name, fn in loaded.signatures.items():
        _, kwargs = fn.structured_input_signature
        if any(spec.shape.rank == 0 for spec in kwargs.values()):  # e.g. sample(count)
            inputs = {k: tf.constant(3, spec.dtype) for k, spec in kwargs.items()}
        elif name.endswith("_raw"):
            continue  # covered through the examples twin below
        else:
            batches = request_inputs(fn, records[:4])
            inputs = {k: tf.constant(np.concatenate([b[k] for b in batches])) for k in batches[0]}
        results[name] = {k: v.numpy() for k, v in fn(**inputs).items()}
    return results


@pytest.mark.parametrize("pipeline", sorted(CASES))
def test_family_pipeline_pushes_and_serves_every_signature(pipeline, tmp_path):
    import glob

    import tensorflow as tf

    from pipelines import registry
    from pipelines.config import Threshold

    hparams, lenient = CASES[pipeline]
    strict = registry.get(pipeline).with_overrides(hparams=hparams)
    config = strict.with_overrides(thresholds=tuple(
        Threshold(metric, lower_bound=low, upper_bound=high, higher_is_better=higher, no_regression=False)
        for metric, low, high, higher in lenient))
    output = str(tmp_path)

    run = _run(config, output)
    assert run.status == "succeeded", [(s.node, s.state) for s in run.steps]
    assert run.blessed is True and run.push.get("pushed") == 1, (run.not_blessed_reasons, run.push)
    assert run.metrics, "the evaluator recorded no metrics in ML Metadata"

    version_dir = run.push["pushed_destination"]
    assert os.path.isfile(os.path.join(version_dir, "saved_model.pb"))
    files = glob.glob(os.path.join(output, "pipelines", pipeline, "TfdsExampleGen", "examples", "*",
                                   "Split-eval", "*.gz"))
    records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(4)]
    outputs = _call_every_signature(version_dir, records)
    assert "serving_default" in outputs and len(outputs) >= 2
    for name, tensors in outputs.items():
        for key, value in tensors.items():
            if value.dtype.kind == "f":
                assert np.all(np.isfinite(value)), f"{name}/{key} is not finite"

    # The same model under the pipeline's real thresholds: judged again, not pushed.
    again = _run(strict, output)
    states = {s.node: s.state for s in again.steps}
    assert states["Trainer"] == "cached" and states["Evaluator"] == "ran"
    assert again.blessed is False and not again.push.get("pushed")
    assert again.not_blessed_reasons

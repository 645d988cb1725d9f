"""``digits_aae`` and ``digits_realnvp`` end to end on a tiny budget.

With lenient thresholds each model is blessed, passes serving validation, is
pushed, and the pushed SavedModel answers through every signature in process,
over REST and over gRPC (the deterministic ones with the in-process answer;
``sample`` with images of the asked count); with the pipeline's real
thresholds the same barely-trained generator is judged again, is not blessed
and is not pushed. The helpers are test_family_pipelines.py's.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.pipelines.test_family_pipelines import (
    _call_every_signature,
    _eval_records,
    _lenient_run,
    _rejudged,
    _served_answers,
)

pytestmark = pytest.mark.pipeline

CASES = {
    # pipeline: (hyperparameters for a tiny budget, lenient thresholds, the real thresholds' metric)
    "digits_aae": ({"epochs": 2, "steps_per_epoch": 5}, [("fid", None, 1e9, False)], "fid"),
    "digits_realnvp": ({"epochs": 2, "steps_per_epoch": 5, "hidden": 16, "checkerboard_layers": 2,
                        "channel_layers": 2}, [("bits_per_dim", None, 1e6, False)], "bits_per_dim"),
}
SAMPLES = 3  # the count _served_answers asks sample() for


@pytest.mark.parametrize("pipeline", sorted(CASES))
def test_pipeline_pushes_serves_every_signature_and_withholds_a_weak_generator(pipeline, tmp_path):
    import tensorflow as tf

    from models import registry as models
    hparams, lenient, metric = CASES[pipeline]
    output = str(tmp_path)
    strict, run = _lenient_run(pipeline, hparams, lenient, output)
    assert metric in {t.metric for t in strict.thresholds}
    assert {"fid", "sample_confidence"} <= set(run.metrics), run.metrics
    if pipeline == "digits_realnvp":
        assert 0 < run.metrics["bits_per_dim"] < 20
    else:
        assert run.metrics["reconstruction_nll"] > 0

    version_dir = run.push["pushed_destination"]
    records = _eval_records(output, pipeline)
    family = models.get(strict.model)
    outputs = _call_every_signature(version_dir, records)
    assert set(family.signature_roles) | {"serving_default"} <= set(outputs), sorted(outputs)
    for name, tensors in outputs.items():
        for key, value in tensors.items():
            if value.dtype.kind == "f":
                assert np.all(np.isfinite(value)), f"{name}/{key} is not finite"

    answers = _served_answers(version_dir, records)
    assert set(answers) == set(tf.saved_model.load(version_dir).signatures)
    for name, (in_process, via_rest, via_grpc) in answers.items():
        assert set(via_grpc) == set(in_process), (name, sorted(via_grpc))
        if name == "sample":  # random draws: the count and the range, not the values
            for served in (via_rest["image"], via_grpc["image"]):
                assert served.shape == (SAMPLES, 8, 8, 1) and 0.0 <= served.min() and served.max() <= 1.0
            continue
        for key, value in in_process.items():
            np.testing.assert_allclose(via_grpc[key], value, rtol=1e-4, atol=1e-4, err_msg=f"gRPC {name}/{key}")
            np.testing.assert_allclose(np.asarray(via_rest[key]).reshape(value.shape), value, rtol=1e-4, atol=1e-4,
                                       err_msg=f"REST {name}/{key}")
    if pipeline == "digits_realnvp":
        bits = answers["log_prob"][0]["bits_per_dim"]
        assert bits.shape == (1,) and 0 < bits[0] < 20

    # The pipeline's real thresholds: a generator trained for ten steps is below them, not blessed, not pushed.
    again = _rejudged(strict, output)
    assert again.blessed is False and not again.push.get("pushed"), (again.metrics, again.push)
    reasons = again.not_blessed_reasons
    assert metric in (reasons if isinstance(reasons, str) else " ".join(reasons)), reasons

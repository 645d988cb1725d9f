"""``digits_aae`` and ``digits_realnvp`` end to end on a tiny budget.

With lenient thresholds each model is blessed, passes serving validation, is
pushed, and the pushed SavedModel answers through every signature in process,
over REST and over gRPC (the deterministic ones with the in-process answer;
``sample`` with images of the asked count); with the pipeline's real
thresholds the same barely-trained generator is judged again, is not blessed
and is not pushed. The helpers are test_family_pipelines.py's.
"""

from __future__ import annotations

import glob
import os

import numpy as np
import pytest

from tests.pipelines.test_family_pipelines import _call_every_signature, _run

pytestmark = pytest.mark.pipeline

CASES = {
    # pipeline: (hyperparameters for a tiny budget, lenient thresholds, the real thresholds' metric)
    "digits_aae": ({"epochs": 2, "steps_per_epoch": 5}, [("fid", None, 1e9, False)], "fid"),
    "digits_realnvp": ({"epochs": 2, "steps_per_epoch": 5, "hidden": 16, "checkerboard_layers": 2,
                        "channel_layers": 2}, [("bits_per_dim", None, 1e6, False)], "bits_per_dim"),
}
SAMPLES = 3


def _served_answers(version_dir: str, records: list[bytes]) -> dict[str, tuple[dict, dict, dict]]:
    """Every signature of the pushed model through TF Serving's REST and gRPC APIs:
    signature -> (in-process, REST, gRPC) outputs of one request."""
    import tensorflow as tf

    from components.serving_validator.executor import request_inputs
    from serving import config as config_lib
    from serving.client import GrpcClient, RestClient, b64
    from serving.server import ModelServer

    loaded = tf.saved_model.load(version_dir)
    base, name = os.path.dirname(version_dir), "candidate"
    answers = {}
    with ModelServer(config_lib.single_model_config(name, base), file_system_poll_wait_seconds=0) as server:
        rest = RestClient(f"http://127.0.0.1:{server.rest_port}")
        grpc_client = GrpcClient(f"127.0.0.1:{server.grpc_port}")
        try:
            for signature, fn in loaded.signatures.items():
                _, specs = fn.structured_input_signature
                if any(spec.shape.rank == 0 for spec in specs.values()):  # sample(count): columnar
                    inputs = {k: np.array(SAMPLES, spec.dtype.as_numpy_dtype) for k, spec in specs.items()}
                    via_rest = rest.predict(name, inputs={k: int(v) for k, v in inputs.items()},
                                            signature_name=signature)["outputs"]
                else:
                    inputs = request_inputs(fn, records[:1])[0]
                    instance = {k: b64(v[0]) if v.dtype == object else v[0].tolist() for k, v in inputs.items()}
                    rows = rest.predict(name, instances=[instance], signature_name=signature)["predictions"]
                    want = fn(**{k: tf.constant(v) for k, v in inputs.items()})
                    via_rest = {k: [row[k] for row in rows] for k in want} if len(want) > 1 else {
                        next(iter(want)): rows}
                in_process = {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()}
                via_grpc = grpc_client.predict(name, inputs, signature_name=signature)
                answers[signature] = (in_process, {k: np.asarray(v) for k, v in via_rest.items()}, via_grpc)
        finally:
            grpc_client.close()
            rest.close()
    return answers


@pytest.mark.parametrize("pipeline", sorted(CASES))
def test_pipeline_pushes_serves_every_signature_and_withholds_a_weak_generator(pipeline, tmp_path):
    import tensorflow as tf

    from models import registry as models
    from pipelines import registry
    from pipelines.config import Threshold

    hparams, lenient, metric = CASES[pipeline]
    strict = registry.get(pipeline).with_overrides(hparams=hparams)
    assert metric in {t.metric for t in strict.thresholds}
    config = strict.with_overrides(thresholds=tuple(
        Threshold(m, lower_bound=low, upper_bound=high, higher_is_better=higher, no_regression=False)
        for m, low, high, higher in lenient))
    output = str(tmp_path)

    run = _run(config, output)
    assert run.status == "succeeded", [(s.node, s.state) for s in run.steps]
    assert run.blessed is True and run.push.get("pushed") == 1, (run.not_blessed_reasons, run.push)
    assert {"fid", "sample_confidence"} <= set(run.metrics), run.metrics
    if pipeline == "digits_realnvp":
        assert 0 < run.metrics["bits_per_dim"] < 20
    else:
        assert run.metrics["reconstruction_nll"] > 0

    version_dir = run.push["pushed_destination"]
    files = glob.glob(os.path.join(output, "pipelines", pipeline, "TfdsExampleGen", "examples", "*",
                                   "Split-eval", "*.gz"))
    records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP").take(4)]
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
    again = _run(strict, output)
    states = {s.node: s.state for s in again.steps}
    assert states["Trainer"] == "cached" and states["Evaluator"] == "ran"
    assert again.blessed is False and not again.push.get("pushed"), (again.metrics, again.push)
    reasons = again.not_blessed_reasons
    assert metric in (reasons if isinstance(reasons, str) else " ".join(reasons)), reasons

"""``digits_lapgan`` and ``photos_srgan`` end to end on a tiny budget.

With lenient thresholds each model is blessed, passes serving validation, is
pushed, and the pushed SavedModel answers through every signature in process,
over REST and over gRPC with the same values (SRGAN's ``upscale`` on a real
held-out low-resolution crop of odd size, answered at twice its size; a
malformed image is a 400 with the server's message, not a crash); with the
pipeline's real thresholds the same barely-trained model is judged again, is
not blessed and is not pushed. The helpers are test_family_pipelines.py's.
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
    "digits_lapgan": ({"epochs": 2, "steps_per_epoch": 5, "hidden_units": (32,), "filters": 8},
                      [("fid", None, 1e9, False)], "fid"),
    # skip="none": ten steps leave the plain generator far below bicubic, so the real threshold withholds it
    "photos_srgan": ({"epochs": 2, "steps_per_epoch": 5, "filters": 8, "residual_blocks": 1, "skip": "none",
                      "discriminator_filters": (8,), "pretrain_epochs": 0},
                     [("psnr_gain", -1e9, None, True)], "psnr_gain"),
}
CROP = (5, 7)  # an odd-sized low-resolution input for `upscale`


def _requests(fn, records: list[bytes]) -> dict[str, np.ndarray]:
    """One request for signature ``fn``: a held-out low-resolution crop for an image input, else the
    ServingValidator's request (seeded latents)."""
    import tensorflow as tf

    from components.serving_validator.executor import request_inputs

    _, specs = fn.structured_input_signature
    if set(specs) == {"image"}:
        pixels = tf.train.Example.FromString(records[0]).features.feature["low_res"].int64_list.value
        low = np.asarray(pixels, np.float32).reshape(16, 16, 3) / 255.0
        return {"image": low[None, :CROP[0], :CROP[1]]}
    return request_inputs(fn, records[:1])[0]


def _malformed_image_is_refused(signature: str, inputs, rest, grpc_client, name: str) -> None:
    """A two-channel image: a 400 with a message over REST, an error over gRPC; the server lives on."""
    from serving.errors import ServingError
    from serving.rest_client import model_path

    if "image" not in inputs:
        return
    bad = np.zeros((1, 3, 3, 2), np.float32)
    status, payload = rest.request("POST", model_path(name, None, None) + ":predict",
                                   {"instances": bad.tolist(), "signature_name": signature})
    assert status == 400 and payload.get("error"), (status, payload)
    with pytest.raises(ServingError):
        grpc_client.predict(name, {"image": bad}, signature_name=signature)


@pytest.mark.parametrize("pipeline", sorted(CASES))
def test_pipeline_pushes_serves_every_signature_and_withholds_a_weak_model(pipeline, tmp_path):

    from models import registry as models
    hparams, lenient, metric = CASES[pipeline]
    output = str(tmp_path)
    strict, run = _lenient_run(pipeline, hparams, lenient, output)
    assert metric in {t.metric for t in strict.thresholds}
    if pipeline == "photos_srgan":
        assert {"psnr", "ssim", "bicubic_psnr", "bicubic_ssim", "psnr_gain"} <= set(run.metrics), run.metrics
        assert 15 < run.metrics["bicubic_psnr"] < 50 and 0 < run.metrics["bicubic_ssim"] <= 1
        assert run.metrics["psnr_gain"] == pytest.approx(run.metrics["psnr"] - run.metrics["bicubic_psnr"])
    else:
        assert {"fid", "sample_confidence"} <= set(run.metrics), run.metrics

    version_dir = run.push["pushed_destination"]
    records = _eval_records(output, pipeline)
    family = models.get(strict.model)
    if pipeline == "digits_lapgan":  # SRGAN's image input is not the ServingValidator's request: answered below
        outputs = _call_every_signature(version_dir, records)
        assert set(family.signature_roles) | {"serving_default"} <= set(outputs), sorted(outputs)

    answers = _served_answers(version_dir, records, request=_requests, check=_malformed_image_is_refused)
    assert set(answers) == set(family.signature_roles) | {"serving_default"}, sorted(answers)
    for name, (in_process, via_rest, via_grpc) in answers.items():
        assert set(via_grpc) == set(in_process) == {"image"}, (name, sorted(via_grpc))
        image = in_process["image"]
        want = (1, 2 * CROP[0], 2 * CROP[1], 3) if pipeline == "photos_srgan" else (1, 8, 8, 1)
        assert image.shape == want and 0.0 <= image.min() and image.max() <= 1.0, (name, image.shape)
        np.testing.assert_allclose(via_grpc["image"], image, rtol=1e-4, atol=1e-4, err_msg=f"gRPC {name}")
        np.testing.assert_allclose(via_rest["image"].reshape(image.shape), image, rtol=1e-4, atol=1e-4,
                                   err_msg=f"REST {name}")

    # The pipeline's real thresholds: a model trained for ten steps is below them, not blessed, not pushed.
    again = _rejudged(strict, output)
    assert again.blessed is False and not again.push.get("pushed"), (again.metrics, again.push)
    assert any(reason.strip().startswith(f"{metric} ") for reason in again.not_blessed_reasons.split(";")), \
        again.not_blessed_reasons

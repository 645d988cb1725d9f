"""The echo state network pipeline end to end on a tiny reservoir: blessed and pushed, the pushed
model forecasts over TF Serving's REST and gRPC APIs (``forecast`` on tf.Examples, ``forecast_raw``
on a JSON window), a bad window is a 400 / INVALID_ARGUMENT, and a model below the pipeline's
thresholds is not pushed."""

from __future__ import annotations

import glob
import math
import os

import numpy as np
import pytest

from tests.fixtures.served import served_clients
from tests.pipelines.test_family_pipelines import _call_every_signature, _run

pytestmark = pytest.mark.pipeline

PIPELINE, MODEL_NAME = "mackey_glass_esn", "mackey_glass_esn"
TINY = {"units": 60}


def _lenient():
    from pipelines.config import Threshold

    # The tiny reservoir's bar: far better than persistence, not the pipeline's NRMSE <= 0.05.
    return (Threshold("nrmse", upper_bound=0.2, higher_is_better=False),
            Threshold("relative_nrmse", upper_bound=0.3, higher_is_better=False, no_regression=False))


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    from pipelines import registry

    config = registry.get(PIPELINE).with_overrides(hparams=TINY, thresholds=_lenient())
    output = str(tmp_path_factory.mktemp("forecasting"))
    return config, output, _run(config, output)


def _says_wrong_length(message: str) -> bool:
    """The server's shape check or the Transform's own: either names the window's length."""
    return "expects shape" in message or "must hold exactly 32 values" in message


def _eval_records(output: str, count: int) -> list[bytes]:
    import tensorflow as tf

    files = glob.glob(os.path.join(output, "pipelines", PIPELINE, "TfdsExampleGen", "examples", "*",
                                   "Split-eval", "*.gz"))
    return [r.numpy() for r in tf.data.TFRecordDataset(sorted(files), compression_type="GZIP").take(count)]


def _windows(records: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow as tf

    parsed = [tf.train.Example.FromString(r).features.feature for r in records]
    return (np.array([list(f["past"].float_list.value) for f in parsed], np.float32),
            np.array([list(f["future"].float_list.value) for f in parsed], np.float32))


def test_esn_pipeline_is_blessed_pushed_and_serves_every_signature(pushed):
    config, output, run = pushed
    assert run.status == "succeeded", [(s.node, s.state) for s in run.steps]
    assert run.blessed is True and run.push.get("pushed") == 1, (run.not_blessed_reasons, run.push)
    # Even a 60-unit reservoir beats persistence by far on Mackey-Glass.
    assert run.metrics["nrmse"] < 0.1 and run.metrics["relative_nrmse"] < 0.2, run.metrics
    assert run.metrics["persistence_nrmse"] > 0.5

    version_dir = run.push["pushed_destination"]
    outputs = _call_every_signature(version_dir, _eval_records(output, 4))
    assert {"serving_default", "forecast"} <= set(outputs)
    for name, tensors in outputs.items():
        assert tensors["forecast"].shape == (4, 8) and np.all(np.isfinite(tensors["forecast"])), name


def test_pushed_model_forecasts_over_rest_and_grpc(pushed):
    from serving.client import b64
    from serving.errors import ServingError

    _, output, run = pushed
    records = _eval_records(output, 64)
    past, future = _windows(records)
    base = os.path.join(output, "serving", MODEL_NAME)
    with served_clients(MODEL_NAME, base) as served:
        rest, grpc_client = served.rest, served.grpc
        path = f"/v1/models/{MODEL_NAME}:predict"
        # A raw window of past values in (JSON), the horizon out in the series' units.
        status, body = rest.request("POST", path, {"signature_name": "forecast_raw",
                                                   "instances": [{"past": row.tolist()} for row in past]})
        assert status == 200, body
        rest_forecast = np.array(body["predictions"], np.float32)
        assert rest_forecast.shape == future.shape
        nrmse = np.sqrt(np.mean((rest_forecast - future) ** 2)) / np.std(future)
        assert nrmse < 0.1, nrmse

        status, body = rest.request("POST", path, {"signature_name": "forecast",
                                                   "instances": [b64(r) for r in records[:8]]})
        assert status == 200, body
        np.testing.assert_allclose(np.array(body["predictions"]), rest_forecast[:8], rtol=1e-5, atol=1e-5)

        grpc_forecast = grpc_client.predict(MODEL_NAME, {"past": past}, signature_name="forecast_raw")["forecast"]
        np.testing.assert_allclose(grpc_forecast, rest_forecast, rtol=1e-5, atol=1e-5)

        # Bad windows: a clear 400 over REST, INVALID_ARGUMENT over gRPC, never a crash.
        short = past[:1, 1:]
        status, body = rest.request("POST", path, {"signature_name": "forecast_raw",
                                                   "instances": [{"past": short[0].tolist()}]})
        assert status == 400 and _says_wrong_length(body["error"]), body
        nan = past[:1].copy()
        nan[0, 5] = math.nan
        status, body = rest.request("POST", path, {"signature_name": "forecast_raw",
                                                   "instances": [{"past": nan[0].tolist()}]})
        assert status == 400 and "NaN" in body["error"], body
        for bad, message in ((short, "shape"), (nan, "NaN")):
            with pytest.raises(ServingError) as error:
                grpc_client.predict(MODEL_NAME, {"past": bad}, signature_name="forecast_raw")
            assert error.value.code.name == "INVALID_ARGUMENT", error.value
            assert _says_wrong_length(error.value.message) if message == "shape" else message in error.value.message
        # A tf.Example whose window is too short fails parsing: also a 400.
        import tensorflow as tf

        example = tf.train.Example()
        example.features.feature["past"].float_list.value.extend(short[0].tolist())
        status, body = rest.request("POST", path, {"signature_name": "forecast",
                                                   "instances": [b64(example.SerializeToString())]})
        assert status == 400 and body["error"], body
        # The server survived every bad request.
        status, _ = rest.request("POST", path, {"signature_name": "forecast_raw",
                                                "instances": [{"past": past[0].tolist()}]})
        assert status == 200


def test_model_below_the_threshold_is_not_pushed(pushed):
    from pipelines.config import Threshold

    config, output, first = pushed
    strict = config.with_overrides(thresholds=(Threshold("nrmse", upper_bound=1e-6, higher_is_better=False),))
    run = _run(strict, output)
    states = {s.node: s.state for s in run.steps}
    assert states["Trainer"] == "cached" and states["Evaluator"] == "ran"
    assert run.blessed is False and not run.push.get("pushed")
    assert "nrmse" in run.not_blessed_reasons and "upper bound 1e-06" in run.not_blessed_reasons, \
        run.not_blessed_reasons
    versions = os.listdir(os.path.join(output, "serving", MODEL_NAME))
    assert versions == [os.path.basename(first.push["pushed_destination"])]

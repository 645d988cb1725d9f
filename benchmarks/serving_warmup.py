"""First-request latency with and without TF Serving model warmup (``assets.extra/tf_serving_warmup_requests``).

Exports a small Keras CNN (digits-sized: 8x8x1 images, two conv layers, 10
classes; random weights, the cost is what matters) as a SavedModel, once
plain and once with one warmup PredictionLog (what the ServingValidator
writes), starts a fresh ``zoo serve`` server on each (``--enable_model_warmup``
default on; and the warmup copy with it off), and prints the first gRPC
Predict's latency beside the median of the next ones and the version's
load time.

    python benchmarks/serving_warmup.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def export_cnn(path: str) -> str:
    import keras
    model = keras.Sequential([keras.Input((8, 8, 1), name="image"), keras.layers.Conv2D(32, 3, padding="same",
                              activation="relu"), keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.export(path, format="tf_saved_model", verbose=False)
    return path


def measure(base: str, warmup_on: bool, image: np.ndarray, n: int) -> tuple[float, float, float]:
    """(load+warmup seconds, first request ms, median of the next ``n`` ms) on a fresh server."""
    from serving import config as config_lib
    from serving.client import GrpcClient
    from serving.server import ModelServer

    start = time.perf_counter()
    server = ModelServer(config_lib.single_model_config("cnn", base), rest_api_port=None,
                         file_system_poll_wait_seconds=0, enable_model_warmup=warmup_on).start()
    load = time.perf_counter() - start
    client = GrpcClient(f"127.0.0.1:{server.grpc_port}")
    request = client.predict_request("cnn", {"image": image})
    client.status("cnn")  # connects the channel outside the timing
    times = []
    for _ in range(n + 1):
        t = time.perf_counter()
        client.prediction.Predict(request, timeout=60)
        times.append((time.perf_counter() - t) * 1e3)
    client.close()
    server.stop()
    return load, times[0], statistics.median(times[1:])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args(argv)
    from serving import warmup

    tmp = tempfile.mkdtemp(prefix="serving_warmup_")
    try:
        plain = export_cnn(os.path.join(tmp, "export"))
        image = np.random.default_rng(0).random((1, 8, 8, 1), dtype=np.float32)
        rows = {"no warmup file": [], "warmup file, --enable_model_warmup=true": [],
                "warmup file, --enable_model_warmup=false": []}
        for r in range(args.rounds):  # a fresh copy (new version directory) per server
            cold = os.path.join(tmp, f"cold{r}")
            shutil.copytree(plain, os.path.join(cold, "1"))
            warm = os.path.join(tmp, f"warm{r}")
            shutil.copytree(plain, os.path.join(warm, "1"))
            warmup.write_warmup_requests(os.path.join(warm, "1"), [warmup.predict_log({"image": image})])
            rows["no warmup file"].append(measure(cold, True, image, args.requests))
            rows["warmup file, --enable_model_warmup=true"].append(measure(warm, True, image, args.requests))
            off = os.path.join(tmp, f"off{r}")
            shutil.copytree(os.path.join(warm, "1"), os.path.join(off, "1"))
            rows["warmup file, --enable_model_warmup=false"].append(measure(off, False, image, args.requests))
        print(f"\nFirst-request latency, gRPC Predict, Keras CNN 8x8x1 -> 10 ({args.rounds} fresh servers each; "
              f"{os.cpu_count()} CPUs shared)")
        print(f"{'model':45s} {'load s':>8s} {'1st req ms':>11s} {'next p50 ms':>12s}")
        for name, values in rows.items():
            load = statistics.median(v[0] for v in values)
            first = statistics.median(v[1] for v in values)
            rest = statistics.median(v[2] for v in values)
            print(f"{name:45s} {load:8.2f} {first:11.2f} {rest:12.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Two workers on 127.0.0.1 train the digits CNN with ``MultiWorkerMirroredStrategy``
(components/trainer/distribute.py, ``distribution="multi_worker"`` from ``TF_CONFIG``).

The test starts this file twice as a worker process (``python test_multi_worker.py OUT``), each with its
``TF_CONFIG``. Each worker builds the ``cnn`` family through ``models`` in the Trainer's
``distribution_scope``, trains it with the family's own ``train`` on its shard of scikit-learn's 8x8
digits for a tiny budget, and picks its output folder with the Trainer's ``start_distribution``. Both must
finish with the same weights (one synchronous model), the same logged losses (averaged across workers),
a loss that fell, and only the chief's output in the Trainer's folder (the other worker's temporary one
gone when it exited). Slow (two TensorFlow processes and a collective), so marked ``pipeline``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

pytestmark = pytest.mark.pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKERS = 2
TIMEOUT_S = 900
HPARAMS = {"filters": (8,), "dense_units": 16, "epochs": 3, "batch_size": 32, "lr_schedule": "none",
           "learning_rate": 2e-2, "dropout": 0.0, "seed": 0}


def free_ports(n: int) -> list[int]:
    """``n`` ports free on 127.0.0.1 now (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_worker(out: str) -> None:
    """One worker: train the CNN under ``multi_worker``, write what the test compares into ``out``."""
    import keras
    import tensorflow as tf
    from sklearn.datasets import load_digits
    from tfx.components.trainer.fn_args_utils import FnArgs

    from components.trainer.distribute import (
        apply_jit_compile,
        distribution_scope,
        start_distribution,
        sync_worker_state,
    )
    from models import registry as models
    from models.base import DataSpec, FeatureInfo

    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    config = {"model": "cnn", "distribution": "multi_worker"}
    # First, as run_fn does: the strategy before any TensorFlow op; the chief keeps the Trainer's folders.
    fn_args = start_distribution(FnArgs(serving_model_dir=os.path.join(out, "serving_model"),
                                        model_run_dir=os.path.join(out, "model_run"), custom_config=config), config)
    family = models.get("cnn")
    hparams = family.hparams(HPARAMS)
    keras.utils.set_random_seed(hparams.seed)
    digits = load_digits()
    images, labels = (digits.images / 16.0).astype("float32")[..., None], digits.target.astype("int64")
    data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)
    train = tf.data.Dataset.from_tensor_slices(({"image": images[:512]}, labels[:512])).batch(hparams.batch_size)
    evaluation = tf.data.Dataset.from_tensor_slices(({"image": images[512:640]}, labels[512:640])).batch(64)

    with distribution_scope(config) as strategy:
        model = apply_jit_compile(family.build(hparams, data), hparams, family.name)
        history = family.train(model, hparams, train, evaluation)
        np.savez(os.path.join(out, f"own_state{index}.npz"), *[np.asarray(v) for v in model.non_trainable_variables])
        sync_worker_state(model, strategy)
        np.savez(os.path.join(out, f"final_state{index}.npz"), *[np.asarray(v) for v in model.non_trainable_variables])
    os.makedirs(fn_args.serving_model_dir, exist_ok=True)
    model.save_weights(os.path.join(fn_args.serving_model_dir, "model.weights.h5"))
    np.savez(os.path.join(out, f"weights{index}.npz"), *[np.asarray(w) for w in model.get_weights()])
    with open(os.path.join(out, f"worker{index}.json"), "w") as f:
        json.dump({"multi_worker": isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
                   "replicas": strategy.num_replicas_in_sync,
                   "history": {k: [float(v) for v in vs] for k, vs in history.items()},
                   "serving_model_dir": fn_args.serving_model_dir}, f)


def _tail(path: str, lines: int = 25) -> str:
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def test_two_workers_train_one_cnn_and_only_the_chief_writes(tmp_path) -> None:
    ports = free_ports(WORKERS)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    procs, logs = [], []
    for index in range(WORKERS):
        env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        env.pop("ZOO_DISTRIBUTION", None)
        logs.append(str(tmp_path / f"worker{index}.log"))
        with open(logs[-1], "w") as log:
            procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__), str(tmp_path)], cwd=ROOT,
                                          env=env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + TIMEOUT_S
    try:  # a worker that fails leaves the other waiting in a collective: stop it then
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            if any(p.poll() not in (None, 0) for p in procs):
                break
            time.sleep(1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for index, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, f"worker {index} exited {p.returncode}:\n{_tail(log)}"

    reports = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(WORKERS)]
    assert all(r["multi_worker"] for r in reports)
    assert {r["replicas"] for r in reports} == {WORKERS}
    weights = [np.load(tmp_path / f"weights{i}.npz") for i in range(WORKERS)]
    assert len(weights[0].files) == len(weights[1].files) > 4
    for name in weights[0].files:  # one synchronous model: every variable, BatchNorm's statistics included
        np.testing.assert_allclose(weights[0][name], weights[1][name], rtol=1e-6, atol=1e-7, err_msg=name)
    # Each worker's BatchNorm statistics came from its own shard; sync_worker_state made them their mean.
    own = [np.load(tmp_path / f"own_state{i}.npz") for i in range(WORKERS)]
    moving = [name for name in own[0].files if not np.allclose(own[0][name], own[1][name])]
    assert moving, "the workers' BatchNorm statistics should differ before they are averaged"
    final = [np.load(tmp_path / f"final_state{i}.npz") for i in range(WORKERS)]
    for name in moving:
        np.testing.assert_allclose(final[0][name], (own[0][name] + own[1][name]) / 2, rtol=1e-5, err_msg=name)
        np.testing.assert_allclose(final[1][name], final[0][name], rtol=1e-6, err_msg=name)
    losses = [r["history"]["loss"] for r in reports]
    assert len(losses[0]) == HPARAMS["epochs"] and all(np.isfinite(losses[0]))
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)  # logs are averaged across the workers
    assert losses[0][-1] < losses[0][0] - 0.1, losses[0]
    assert "val_loss" in reports[0]["history"]

    # Only the chief (worker 0) wrote into the Trainer's folder; worker 1's temporary folder is gone.
    assert reports[0]["serving_model_dir"] == str(tmp_path / "serving_model")
    assert os.listdir(tmp_path / "serving_model") == ["model.weights.h5"]
    other = reports[1]["serving_model_dir"]
    assert not other.startswith(str(tmp_path)) and not os.path.exists(os.path.dirname(other))


if __name__ == "__main__":
    run_worker(sys.argv[1])

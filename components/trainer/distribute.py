"""The Trainer's distribution strategy: one device (default), ``mirrored`` or ``multi_worker``.

Chosen by the Trainer's ``custom_config["distribution"]`` or, when the
pipeline config sets none, the environment variable ``ZOO_DISTRIBUTION``:

* ``none`` / unset: TensorFlow's default strategy (one device);
* ``mirrored``: ``tf.distribute.MirroredStrategy`` over every GPU of the
  machine (the CPU when there is none): synchronous data parallelism, the
  global batch is ``batch_size`` split across replicas;
* ``multi_worker``: ``tf.distribute.MultiWorkerMirroredStrategy`` from
  ``TF_CONFIG`` (``{"cluster": {"worker": ["host:port", ...]}, "task":
  {"type": "worker", "index": i}}``), every worker running the same Trainer.
  Keras 3.12's ``model.fit`` fails under it (keras-team/keras#20585): the
  strategy is made and checked here, and training raises a one-line error
  naming the issue until Keras fixes it, instead of hanging the workers.

The family's model is built and trained inside :func:`distribution_scope`,
so its variables are created by the strategy and ``fit`` distributes.

>>> strategy_name({"distribution": "Mirrored"}, environ={})
'mirrored'
>>> strategy_name({}, environ={"ZOO_DISTRIBUTION": "bogus"})
Traceback (most recent call last):
ValueError: unknown distribution 'bogus'; choices: none, mirrored, multi_worker
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any

STRATEGIES = ("none", "mirrored", "multi_worker")
ENV = "ZOO_DISTRIBUTION"
KERAS_MULTI_WORKER_ISSUE = "keras-team/keras#20585"


def strategy_name(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> str:
    """The configured strategy's name (``custom_config`` first, then ``ZOO_DISTRIBUTION``)."""
    environ = os.environ if environ is None else environ
    name = str(config.get("distribution") or environ.get(ENV) or "none").strip().lower()
    if name not in STRATEGIES:
        raise ValueError(f"unknown distribution {name!r}; choices: {', '.join(STRATEGIES)}")
    return name


def check_tf_config(text: str | None) -> dict[str, Any]:
    """``TF_CONFIG`` parsed and checked for a multi-worker run; a one-line ``ValueError`` otherwise.

    >>> check_tf_config('{"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]}, '
    ...                 '"task": {"type": "worker", "index": 1}}')["task"]["index"]
    1
    """
    if not text:
        raise ValueError("distribution 'multi_worker' needs TF_CONFIG (cluster.worker and task) in the environment")
    try:
        tf_config = json.loads(text)
        workers = tf_config["cluster"]["worker"]
        task = tf_config["task"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"bad TF_CONFIG {text!r}: expected {{\"cluster\": {{\"worker\": [...]}}, "
                         "\"task\": {\"type\": \"worker\", \"index\": i}}") from None
    if not isinstance(workers, list) or not workers or not all(isinstance(w, str) and ":" in w for w in workers):
        raise ValueError(f"bad TF_CONFIG: cluster.worker must list host:port addresses, got {workers!r}")
    if task.get("type") not in ("worker", "chief") or not 0 <= int(task.get("index", -1)) < len(workers):
        raise ValueError(f"bad TF_CONFIG: task {task!r} is not one of the {len(workers)} workers")
    return tf_config


def make_strategy(name: str):
    """The ``tf.distribute`` strategy named ``name`` (``None`` for ``none``)."""
    import tensorflow as tf

    if name == "none":
        return None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    check_tf_config(os.environ.get("TF_CONFIG"))
    return tf.distribute.MultiWorkerMirroredStrategy()


@contextlib.contextmanager
def distribution_scope(config: Mapping[str, Any]) -> Iterator[Any]:
    """Builds and trains inside the configured strategy's scope; yields the strategy (``None``: default)."""
    name = strategy_name(config)
    if name == "multi_worker":  # before the strategy: its collective ops must be set up at start-up
        import keras
        check_tf_config(os.environ.get("TF_CONFIG"))
        if keras.__version__.startswith("3."):
            raise ValueError(f"distribution 'multi_worker' cannot train with Keras {keras.__version__}'s fit "
                             f"({KERAS_MULTI_WORKER_ISSUE}); use 'mirrored' on one machine")
    strategy = make_strategy(name)
    if strategy is None:
        yield None
        return
    with strategy.scope():
        yield strategy

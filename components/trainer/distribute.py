"""The Trainer's distribution strategy (one device, ``mirrored`` or ``multi_worker``) and XLA.

The strategy is chosen by the Trainer's ``custom_config["distribution"]``
(``PipelineConfig.distribution``, ``zoo run --distribution``) or, when the
pipeline config sets none, the environment variable ``ZOO_DISTRIBUTION``:

* ``none`` / unset: TensorFlow's default strategy (one device);
* ``mirrored``: ``tf.distribute.MirroredStrategy`` over every GPU of the
  machine (the CPU when there is none): synchronous data parallelism, the
  global batch is ``batch_size`` split across replicas;
* ``multi_worker``: ``tf.distribute.MultiWorkerMirroredStrategy`` from
  ``TF_CONFIG`` (``{"cluster": {"worker": ["host:port", ...]}, "task":
  {"type": "worker", "index": i}}``), every worker running the same Trainer
  on its shard of the data. Keras 3.12's ``model.fit`` fails under it
  (keras-team/keras#20585); :func:`patch_keras_for_multi_worker` fixes the
  two places, only for a multi-worker strategy. The strategy is made first
  in ``run_fn`` (:func:`start_distribution`: its collective ops must be set
  up before any TensorFlow op of the process), and only the chief (worker 0,
  or the ``chief`` task) writes the Trainer's outputs.

The family's model is built and trained inside :func:`distribution_scope`,
so its variables are created by the strategy and ``fit`` distributes; the
``precision`` hyperparameter (a family's dtype policy) applies inside it as
outside; after training, :func:`sync_worker_state` averages the state that
Keras 3 keeps per worker (BatchNorm's moving statistics). :func:`apply_jit_compile` sets XLA from the ``jit_compile``
hyperparameter on the model a family built.

>>> strategy_name({"distribution": "Mirrored"}, environ={})
'mirrored'
>>> strategy_name({}, environ={"ZOO_DISTRIBUTION": "bogus"})
Traceback (most recent call last):
ValueError: unknown distribution 'bogus'; choices: none, mirrored, multi_worker
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

STRATEGIES = ("none", "mirrored", "multi_worker")
ENV = "ZOO_DISTRIBUTION"
KERAS_MULTI_WORKER_ISSUE = "keras-team/keras#20585"
# Keras 3 versions (major.minor) whose internals patch_keras_for_multi_worker was verified against.
KERAS_MULTI_WORKER_VERIFIED = ("3.12",)
# The process's MultiWorkerMirroredStrategy, once made: TensorFlow sets up its collective ops once.
_MULTI_WORKER: list[Any] = []


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


def is_chief(tf_config: Mapping[str, Any]) -> bool:
    """Whether this task writes the outputs: the ``chief`` task, else worker 0 of a cluster without one
    (TensorFlow's multi-worker rule).

    >>> is_chief({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}})
    True
    >>> is_chief({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}})
    False
    """
    task = tf_config["task"]
    if task.get("type") == "chief":
        return True
    return "chief" not in tf_config["cluster"] and int(task.get("index", 0)) == 0


def check_keras_for_multi_worker(version: str) -> bool:
    """Whether Keras ``version`` needs :func:`patch_keras_for_multi_worker`; a one-line ``ValueError``
    for a Keras 3 the patch was not verified with.

    >>> check_keras_for_multi_worker("3.12.0"), check_keras_for_multi_worker("2.15.0")
    (True, False)
    >>> check_keras_for_multi_worker("3.13.1")
    Traceback (most recent call last):
    ValueError: distribution 'multi_worker' patches Keras internals (keras-team/keras#20585) verified with
    Keras 3.12 only, not 3.13.1: check the issue, then extend KERAS_MULTI_WORKER_VERIFIED
    """
    major_minor = ".".join(version.split(".")[:2])
    if not version.startswith("3."):
        return False  # Keras 2 (tf.keras) trains under MultiWorkerMirroredStrategy as it is
    if major_minor not in KERAS_MULTI_WORKER_VERIFIED:
        raise ValueError(f"distribution 'multi_worker' patches Keras internals ({KERAS_MULTI_WORKER_ISSUE}) "
                         f"verified with Keras {', '.join(KERAS_MULTI_WORKER_VERIFIED)} only, not {version}: "
                         "check the issue, then extend KERAS_MULTI_WORKER_VERIFIED")
    return True


def patch_keras_for_multi_worker() -> None:
    """Makes Keras 3's TensorFlow ``fit``/``evaluate`` work under ``MultiWorkerMirroredStrategy``.

    keras-team/keras#20585: Keras 3.12 fails there in two places of
    ``keras/src/backend/tensorflow/trainer.py``, both only with a multi-worker
    collective strategy:

    1. ``TensorFlowTrainer._maybe_symbolic_build`` builds the model's metrics
       and optimizer variables from the first batch, which it first averages
       over replicas with ``strategy.reduce("MEAN", batch, axis=None)``; the
       batch is a nest of per-replica values, which the collective strategy
       cannot reduce ("Attempt to convert a value (PerReplica ...)"). Only the
       batch's shapes matter there: the patch builds from this worker's first
       replica's values instead.
    2. ``reduce_per_replica`` averages each step's logs across workers with
       ``strategy.reduce("MEAN", v, axis=0)``, but Keras 3's logs are scalars
       ("Invalid reduction dimension 0 for input with 0 dimensions"): the
       patch averages a scalar with ``axis=None`` (over the replicas of
       every worker, not along an axis), as Keras does on one machine.

    Both patched functions call Keras' own for every other strategy, so a
    process that also trains without one is unaffected. Applied once per
    process, when the strategy is ``multi_worker`` (:func:`make_strategy`).
    """
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer.reduce_per_replica, "_zoo_multi_worker", False):
        return
    multi_worker = tf_trainer._collective_all_reduce_multi_worker
    symbolic_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    reduce_per_replica = tf_trainer.reduce_per_replica

    def first_local(strategy: Any, value: Any) -> Any:
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> Any:
        strategy = self._distribute_strategy
        if strategy is None or not multi_worker(strategy):
            return symbolic_build(self, iterator=iterator, data_batch=data_batch)
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tree.map_structure(lambda v: first_local(strategy, v), next(it))
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_scalars_across_replicas(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction not in ("auto", "mean") or not multi_worker(strategy):
            return reduce_per_replica(values, strategy, reduction)

        def reduce(value: Any) -> Any:
            if first_local(strategy, value).shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return reduce_per_replica(value, strategy, reduction)

        return tree.map_structure(reduce, values)

    reduce_scalars_across_replicas._zoo_multi_worker = True
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_scalars_across_replicas  # read as a global by the step functions


def make_strategy(name: str):
    """The ``tf.distribute`` strategy named ``name`` (``None`` for ``none``)."""
    import tensorflow as tf

    if name == "none":
        return None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if _MULTI_WORKER:
        return _MULTI_WORKER[0]
    check_tf_config(os.environ.get("TF_CONFIG"))
    import keras

    patch = check_keras_for_multi_worker(keras.__version__)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:  # "Collective ops must be configured at program startup"
        raise ValueError("distribution 'multi_worker' must start before any TensorFlow op of the process (one "
                         f"fresh Trainer process per worker; start_distribution first in run_fn): {error}") from None
    if patch:
        patch_keras_for_multi_worker()
    _MULTI_WORKER.append(strategy)
    return strategy


@contextlib.contextmanager
def distribution_scope(config: Mapping[str, Any]) -> Iterator[Any]:
    """Builds and trains inside the configured strategy's scope; yields the strategy (``None``: default)."""
    name = strategy_name(config)
    if name == "multi_worker":  # checked before the strategy: its collective ops start with it
        import keras

        check_tf_config(os.environ.get("TF_CONFIG"))
        check_keras_for_multi_worker(keras.__version__)
    strategy = make_strategy(name)
    if strategy is None:
        yield None
        return
    with strategy.scope():
        yield strategy


def start_distribution(fn_args: Any, config: Mapping[str, Any]) -> Any:
    """Called first in ``run_fn``: under ``multi_worker``, makes the strategy now (before any
    TensorFlow op: its collective ops are set up at the process's start) and returns ``fn_args``
    whose output folders are the Trainer's on the chief, and on every other worker a temporary
    folder deleted when the process exits. Otherwise ``fn_args`` as they are.

    Every worker of a multi-worker run trains and exports alike (saving may
    take part in collective ops), but only the chief's model is the Trainer's
    (TensorFlow's multi-worker rule: the others write to a temporary place).
    ``fn_args`` is TFX's ``FnArgs`` (its ``serving_model_dir`` and
    ``model_run_dir`` are replaced).
    """
    if strategy_name(config) != "multi_worker":
        return fn_args
    tf_config = check_tf_config(os.environ.get("TF_CONFIG"))
    make_strategy("multi_worker")
    if is_chief(tf_config):
        return fn_args
    import attr

    folder = tempfile.mkdtemp(prefix=f"zoo-worker{tf_config['task'].get('index', 0)}-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return attr.evolve(fn_args, serving_model_dir=os.path.join(folder, "serving_model"),
                       model_run_dir=os.path.join(folder, "model_run"))


def sync_worker_state(model: Any, strategy: Any) -> None:
    """Under ``multi_worker``, averages the model's non-trainable float variables across the workers;
    nothing otherwise. Called on every worker after training (it is a collective op).

    Gradients are all-reduced, so the trainable weights are the same on every
    worker; but Keras 3 creates state such as ``BatchNormalization``'s moving
    mean and variance without an aggregation, so each worker keeps its own
    (its shard's) running averages. Their mean over the workers is what
    synchronised updates would have given (an exponential moving average is
    linear in the batch statistics, and every worker starts from the chief's
    initial values), and is what tf.keras' ``ON_READ``/``MEAN`` variables read.
    """
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    variables = [v for v in model.non_trainable_variables if "float" in str(v.dtype)]
    if not variables:
        return
    values = [v.value for v in variables]

    @tf.function
    def mean_over_workers() -> Any:
        return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce(
            "MEAN", [tf.identity(value) for value in values]))

    means = mean_over_workers()
    for variable, mean in zip(variables, means):
        variable.assign(strategy.experimental_local_results(mean)[0])


def apply_jit_compile(model: Any, hparams: Any, family: str = "model") -> Any:
    """Sets ``model``'s XLA compilation (``model.jit_compile``) from ``hparams.jit_compile``; returns it.

    ``False`` (the default) trains without XLA on any machine (Keras' own
    ``"auto"`` would turn it on where there is a GPU). ``True`` needs every
    layer to support XLA (Keras' ``supports_jit``, which e.g. a layer running
    string ops sets ``False``): otherwise a one-line ``ValueError`` naming them.

    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="sgd", loss="mse")
    >>> apply_jit_compile(model, type("HP", (), {"jit_compile": True})()).jit_compile
    True
    """
    wanted = bool(getattr(hparams, "jit_compile", False))
    if wanted:
        unsupported = sorted({layer.name for layer in model._flatten_layers(include_self=True)
                              if not layer.supports_jit})
        if unsupported:
            raise ValueError(f"model '{family}' cannot train with jit_compile=True (XLA): its layers "
                             f"{unsupported} do not support XLA")
        if model.run_eagerly:
            raise ValueError(f"model '{family}' runs eagerly, so it cannot train with jit_compile=True (XLA)")
    model.jit_compile = wanted
    # Step functions made before this (none, unless the family trained already) are made again with it.
    model.train_function = model.test_function = model.predict_function = None
    return model

"""The Trainer's distribution strategy and XLA (components/trainer/distribute.py): chosen by the pipeline
config (PipelineConfig.distribution -> the Trainer's custom_config, part of the run key), zoo run
--distribution or ZOO_DISTRIBUTION; a model built in the mirrored scope has mirrored variables and trains
with fit, in mixed precision too; multi_worker checks TF_CONFIG and Keras' version, must start before any
TensorFlow op, and only its chief writes the Trainer's outputs (two real workers train in
test_multi_worker.py); jit_compile is honoured and refused in one line by a model that cannot run under XLA."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from components.trainer import distribute


def test_the_config_wins_over_the_environment_and_none_is_the_default():
    assert distribute.strategy_name({}, environ={}) == "none"
    assert distribute.strategy_name({}, environ={distribute.ENV: "mirrored"}) == "mirrored"
    assert distribute.strategy_name({"distribution": "multi_worker"}, environ={distribute.ENV: "mirrored"}) \
        == "multi_worker"


def test_default_scope_changes_nothing(monkeypatch):
    monkeypatch.delenv(distribute.ENV, raising=False)
    with distribute.distribution_scope({}) as strategy:
        assert strategy is None


def test_a_model_built_in_the_mirrored_scope_is_mirrored_and_trains():
    import keras
    import tensorflow as tf

    with distribute.distribution_scope({"distribution": "mirrored"}) as strategy:
        assert isinstance(strategy, tf.distribute.MirroredStrategy)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        model.compile(optimizer="sgd", loss="mse")
        x = np.random.default_rng(0).random((32, 4)).astype("float32")
        before = model.layers[0].kernel.numpy().copy()
        history = model.fit(x, x[:, :3], batch_size=8, epochs=1, verbose=0)
    assert isinstance(model.layers[0].kernel.value, tf.distribute.DistributedValues)
    assert strategy.num_replicas_in_sync >= 1
    assert np.isfinite(history.history["loss"][0])
    assert not np.allclose(model.layers[0].kernel.numpy(), before)


@pytest.mark.parametrize("tf_config, message", [
    (None, "needs TF_CONFIG"),
    ("not json", "bad TF_CONFIG"),
    (json.dumps({"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}), "host:port"),
    (json.dumps({"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "worker", "index": 1}}),
     "is not one of the 1 workers"),
])
def test_bad_tf_config_is_a_one_line_error(tf_config, message):
    with pytest.raises(ValueError, match=message) as error:
        distribute.check_tf_config(tf_config)
    assert "\n" not in str(error.value)


def test_keras_versions_the_multi_worker_patch_is_not_verified_with_are_refused_in_one_line():
    assert distribute.check_keras_for_multi_worker("3.12.0") is True
    assert distribute.check_keras_for_multi_worker("2.15.1") is False  # tf.keras needs no patch
    with pytest.raises(ValueError, match=r"keras-team/keras#20585\) verified with Keras 3.12 only, not 3.14.0") \
            as error:
        distribute.check_keras_for_multi_worker("3.14.0")
    assert "\n" not in str(error.value)


def test_multi_worker_after_tensorflow_started_is_a_one_line_error(monkeypatch):
    import tensorflow as tf

    tf.constant(1.0) + 1.0  # this process's TensorFlow has run ops: too late for collective ops
    monkeypatch.setattr(distribute, "_MULTI_WORKER", [])
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:2222"]},
                                                "task": {"type": "worker", "index": 0}}))
    with pytest.raises(ValueError, match="must start before any TensorFlow op") as error:
        with distribute.distribution_scope({"distribution": "multi_worker"}):
            pass
    assert "\n" not in str(error.value)


def test_the_keras_patch_leaves_other_strategies_to_keras(monkeypatch):
    from keras.src.backend.tensorflow import trainer as tf_trainer

    monkeypatch.setattr(tf_trainer, "reduce_per_replica", tf_trainer.reduce_per_replica)
    monkeypatch.setattr(tf_trainer.TensorFlowTrainer, "_maybe_symbolic_build",
                        tf_trainer.TensorFlowTrainer._maybe_symbolic_build)
    distribute.patch_keras_for_multi_worker()
    patched = tf_trainer.reduce_per_replica
    assert getattr(patched, "_zoo_multi_worker", False)
    distribute.patch_keras_for_multi_worker()  # once per process
    assert tf_trainer.reduce_per_replica is patched
    # Mirrored and default strategies still train through the patched functions, as before.
    test_a_model_built_in_the_mirrored_scope_is_mirrored_and_trains()
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(1).random((16, 4)).astype("float32")
    assert np.isfinite(model.fit(x, x[:, :1], batch_size=8, epochs=1, verbose=0).history["loss"][0])


@pytest.mark.parametrize("task, chief", [({"type": "worker", "index": 0}, True),
                                         ({"type": "worker", "index": 1}, False)])
def test_only_the_chief_writes_the_trainers_outputs(monkeypatch, tmp_path, task, chief):
    from tfx.components.trainer.fn_args_utils import FnArgs

    made = []
    monkeypatch.setattr(distribute, "make_strategy", made.append)  # no collective ops in this process
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:2222", "127.0.0.1:2223"]},
                                                "task": task}))
    config = {"distribution": "multi_worker"}
    fn_args = FnArgs(serving_model_dir=str(tmp_path / "serving"), model_run_dir=str(tmp_path / "run"),
                     custom_config=config)
    started = distribute.start_distribution(fn_args, config)
    assert made == ["multi_worker"]  # the strategy is made first, before the Trainer's TensorFlow ops
    if chief:
        assert started is fn_args
    else:
        assert not started.serving_model_dir.startswith(str(tmp_path))
        assert os.path.dirname(started.serving_model_dir) == os.path.dirname(started.model_run_dir)
        assert os.path.isdir(os.path.dirname(started.serving_model_dir))
        assert started.custom_config == config and started.working_dir == fn_args.working_dir
    monkeypatch.delenv("TF_CONFIG")
    assert distribute.start_distribution(fn_args, {"distribution": "mirrored"}) is fn_args
    assert made == ["multi_worker"]


def _digits(n: int = 256):
    from sklearn.datasets import load_digits

    digits = load_digits()
    return {"image": (digits.images[:n] / 16.0).astype("float32")[..., None]}, digits.target[:n].astype("int64")


def test_mixed_bfloat16_applies_under_mirrored_and_the_cnn_trains():
    import keras
    import tensorflow as tf

    from models import registry
    from models.base import DataSpec, FeatureInfo

    family = registry.get("cnn")
    hp = family.hparams({"filters": (8,), "dense_units": 16, "precision": "mixed_bfloat16", "epochs": 3,
                         "batch_size": 32, "learning_rate": 5e-3, "lr_schedule": "none", "dropout": 0.0})
    data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)
    features, labels = _digits()
    train = tf.data.Dataset.from_tensor_slices((features, labels)).batch(hp.batch_size)
    with distribute.distribution_scope({"distribution": "mirrored"}) as strategy:
        model = distribute.apply_jit_compile(family.build(hp, data), hp, family.name)
        history = family.train(model, hp, train, train.take(2))
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    conv = next(layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Conv2D))
    assert (conv.compute_dtype, conv.variable_dtype) == ("bfloat16", "float32")
    assert isinstance(conv.kernel.value, tf.distribute.DistributedValues)
    assert model.output.dtype == "float32"  # the softmax head stays float32
    losses = history["loss"]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    state = [np.asarray(v) for v in model.non_trainable_variables]
    with strategy.scope():  # one worker: nothing to average
        distribute.sync_worker_state(model, strategy)
    distribute.sync_worker_state(model, None)
    for before, after in zip(state, model.non_trainable_variables):
        np.testing.assert_array_equal(before, np.asarray(after))


def test_jit_compile_trains_the_cnn_with_xla_and_lowers_the_loss():
    import tensorflow as tf

    from models import registry
    from models.base import DataSpec, FeatureInfo

    family = registry.get("cnn")
    hp = family.hparams({"filters": (8,), "dense_units": 16, "jit_compile": True, "epochs": 3, "batch_size": 32,
                         "learning_rate": 5e-3, "lr_schedule": "none", "dropout": 0.0})
    data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)
    features, labels = _digits()
    model = distribute.apply_jit_compile(family.build(hp, data), hp, family.name)
    assert model.jit_compile is True
    history = family.train(model, hp, tf.data.Dataset.from_tensor_slices((features, labels)).batch(32), None)
    assert all(np.isfinite(history["loss"])) and history["loss"][-1] < history["loss"][0], history["loss"]
    assert distribute.apply_jit_compile(model, family.hparams({}), family.name).jit_compile is False


def test_jit_compile_is_honoured_by_fit():
    """An op XLA cannot compile (a host Python function) trains without XLA and fails under it."""
    import keras
    import tensorflow as tf

    class HostIdentity(keras.layers.Layer):
        def call(self, x):
            y = tf.numpy_function(lambda a: a, [x], tf.float32)
            return tf.ensure_shape(y, x.shape)

        def compute_output_shape(self, shape):
            return shape

    x = np.random.default_rng(0).random((16, 4)).astype("float32")
    for jit in (False, True):
        model = keras.Sequential([keras.Input((4,)), HostIdentity(), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        distribute.apply_jit_compile(model, type("HParams", (), {"jit_compile": jit})())
        if not jit:
            assert np.isfinite(model.fit(x, x[:, :1], batch_size=8, epochs=1, verbose=0).history["loss"][0])
            continue
        with pytest.raises(Exception, match="(?i)xla|PyFunc|numpy_function"):
            model.fit(x, x[:, :1], batch_size=8, epochs=1, verbose=0)


def test_a_model_with_a_layer_xla_cannot_run_refuses_jit_compile_in_one_line(tmp_path):
    """The BERT families' string preprocessor (tokenizer ops) says it does not support XLA."""
    from models import registry
    from models.base import DataSpec, FeatureInfo
    from models.features import wordpiece

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join([*wordpiece.RESERVED_TOKENS, "the", "cat", "sat"]) + "\n")
    family = registry.get("bert_pretraining")
    hp = family.hparams({"sequence_length": 16, "hidden_dim": 16, "intermediate_dim": 32, "num_layers": 1,
                         "num_heads": 2, "vocab_file": str(vocab), "jit_compile": True})
    data = DataSpec({wordpiece.TEXT_A: FeatureInfo((1,), "string"), wordpiece.TEXT_B: FeatureInfo((1,), "string")},
                    wordpiece.NEXT_SENTENCE, 2)
    with pytest.raises(ValueError, match=r"model 'bert_pretraining' cannot train with jit_compile=True \(XLA\): "
                                         r"its layers \['preprocessor'\] do not support XLA") as error:
        distribute.apply_jit_compile(family.build(hp, data), hp, family.name)
    assert "\n" not in str(error.value)


def test_the_pipeline_config_names_the_trainers_distribution(tmp_path):
    from pipelines import factory, registry, run_key

    config = registry.get("digits")
    assert config.distribution is None
    with pytest.raises(ValueError, match="pipeline 'digits': distribution must be one of none, mirrored, "
                                         "multi_worker") as error:
        config.with_overrides(distribution="horovod")
    assert "\n" not in str(error.value)
    mirrored = config.with_overrides(distribution="mirrored")
    assert run_key.config_digest(mirrored) != run_key.config_digest(config)  # a change re-runs the pipeline

    def trainer_config(c):
        built = factory.create_pipeline(c, str(tmp_path), str(tmp_path / "m.sqlite"), str(tmp_path / "serving"))
        (trainer,) = [n for n in built.components if n.id == "Trainer"]
        return json.loads(trainer.exec_properties["custom_config"])

    assert trainer_config(mirrored)["distribution"] == "mirrored"
    assert "distribution" not in trainer_config(config)  # unset: ZOO_DISTRIBUTION decides, caches unchanged
    assert distribute.strategy_name(trainer_config(mirrored), environ={distribute.ENV: "none"}) == "mirrored"


def test_zoo_run_distribution_applies_to_every_stage():
    from pipelines import registry
    from zoo.cli import _configured, build_parser

    staged = next((n for n in registry.names() if registry.get(n).pretraining is not None), None)
    for name in [n for n in ("digits", staged) if n]:
        args = build_parser().parse_args(["run", name, "--distribution", "mirrored"])
        config = _configured(args)
        assert config.distribution == "mirrored"
        assert config.pretraining is None or config.pretraining.distribution == "mirrored"
        assert _configured(build_parser().parse_args(["run", name])).distribution is None
    for bad in ("bogus", "multi_worker"):  # multi_worker: one Trainer process per worker, not zoo run's
        with pytest.raises(SystemExit):
            build_parser().parse_args(["run", "digits", "--distribution", bad])


def test_a_family_that_cannot_train_under_xla_refuses_jit_compile_in_its_hyperparameters(monkeypatch):
    """ModelFamily.supports_jit_compile, checked where precisions are: before any component runs."""
    from models import registry

    family = registry.get("cnn")
    assert family.hparams({"jit_compile": True}).jit_compile is True
    monkeypatch.setattr(type(family), "supports_jit_compile", False)
    with pytest.raises(ValueError, match=r"model 'cnn' cannot train with jit_compile=True \(XLA") as error:
        family.hparams({"jit_compile": True})
    assert "\n" not in str(error.value)
    assert family.hparams({}).jit_compile is False

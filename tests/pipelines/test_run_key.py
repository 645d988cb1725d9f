"""A no-op run: every kind of change a run depends on is detected, nothing else is."""

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from components.fingerprint import PROJECT_ROOT
from pipelines import registry, run_key
from pipelines.run_key import RunHistory, Success, nothing_to_do

PACKAGES = ("components", "datasets", "models", "pipelines", "serving", "zoo")


@pytest.fixture()
def tree(tmp_path: pathlib.Path) -> pathlib.Path:
    """A copy of the project's packages to edit."""
    for package in PACKAGES:
        shutil.copytree(PROJECT_ROOT / package, tmp_path / "src" / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path / "src"


@pytest.fixture()
def data_dir(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A TFDS data dir holding a 'prepared' digits 1.0.0."""
    folder = tmp_path / "tfds"
    prepared = folder / "digits" / "1.0.0"
    prepared.mkdir(parents=True)
    (prepared / "dataset_info.json").write_text('{"name": "digits"}')
    (prepared / "digits-train.tfrecord-00000-of-00001").write_bytes(b"records")
    monkeypatch.setenv("TFDS_DATA_DIR", str(folder))
    return folder


def _edit(path: pathlib.Path) -> None:
    path.write_text(path.read_text() + "\n# edited\n")


def test_family_module_is_found_without_importing_models():
    for name in registry.names():
        config = registry.get(name)
        assert run_key.family_module(config.model).startswith("models.")
    assert run_key.family_module("cnn") == "models.cnn"
    with pytest.raises(KeyError, match="no model family named 'nope'"):
        run_key.family_module("nope")


@pytest.mark.parametrize("path", [
    "models/cnn.py",                      # the family
    "models/layers/conv.py",              # a layer it uses
    "models/base.py",
    "components/trainer/module.py",       # the Trainer's run_fn
    "components/transforms/image.py",     # the preprocessing_fn
    "components/evaluator/component.py",  # a component the factory wires
    "components/pusher/executor.py",
    "pipelines/factory.py",
])
def test_code_the_run_executes_changes_the_key(tree, data_dir, path):
    config = registry.get("digits")
    before = run_key.run_key(config, tree)
    _edit(tree / path)
    assert run_key.run_key(config, tree).changed(before) == ["code"]


def test_a_builder_edit_changes_code_and_dataset(tree, data_dir):
    config = registry.get("digits")
    before = run_key.run_key(config, tree)
    _edit(tree / "datasets" / "digits.py")
    assert run_key.run_key(config, tree).changed(before) == ["code", "dataset"]


@pytest.mark.parametrize("path", ["models/vae.py", "zoo/cli.py", "pipelines/runs.py", "models/__init__.py"])
def test_code_the_run_does_not_execute_changes_nothing(tree, data_dir, path):
    config = registry.get("digits")
    before = run_key.run_key(config, tree)
    _edit(tree / path)
    (tree / "models" / "another_family.py").write_text("import keras\n")
    assert run_key.run_key(config, tree) == before


def test_config_changes_are_detected(data_dir):
    config = registry.get("digits")
    before = run_key.run_key(config)
    assert run_key.run_key(config.with_overrides(hparams={"epochs": 3})).changed(before) == ["config"]
    assert run_key.run_key(config.with_overrides(thresholds=())).changed(before) == ["config"]
    assert run_key.run_key(config.with_overrides(seed=1)).changed(before) == ["config"]
    assert run_key.run_key(registry.get("digits")) == before


def test_dataset_changes_are_detected(data_dir):
    config = registry.get("digits")
    before = run_key.run_key(config)
    assert before.dataset is not None
    shard = data_dir / "digits" / "1.0.0" / "digits-train.tfrecord-00000-of-00001"
    shard.write_bytes(b"other records")
    assert run_key.run_key(config).changed(before) == ["dataset"]
    newer = run_key.run_key(config)
    (data_dir / "digits" / "1.1.0").mkdir()  # a newer version is what TFDS would load
    assert run_key.run_key(config).changed(newer) == ["dataset"]
    pinned = config.with_overrides(dataset=dataclasses.replace(config.dataset, version="1.0.0"))
    assert run_key.run_key(pinned).dataset == newer.dataset
    shutil.rmtree(data_dir / "digits")
    assert run_key.run_key(config).dataset is None


def test_stack_changes_are_detected(monkeypatch):
    before = run_key.stack_digest()

    class Dist:
        metadata = {"Name": "tensorflow"}
        version = "9.9.9"

    real = run_key.importlib.metadata.distributions
    monkeypatch.setattr(run_key.importlib.metadata, "distributions", lambda **kw: [*real(**kw), Dist()])
    assert run_key.stack_digest() != before


def _success(config, served: pathlib.Path, key=None) -> Success:
    (served / "variables").mkdir(parents=True, exist_ok=True)
    (served / "saved_model.pb").write_bytes(b"model")
    return Success("run-1", key or run_key.run_key(config), "7", str(served), 1.0)


def test_nothing_to_do_only_when_the_key_matches_and_the_model_is_served(tmp_path, data_dir):
    config = registry.get("digits")
    history = RunHistory(str(tmp_path / "runs"))
    assert nothing_to_do(config, history) == (None, ["no successful run recorded"])
    history.record_success(config.name, _success(config, tmp_path / "serving" / "7"))
    last, reasons = nothing_to_do(config, history)
    assert last is not None and last.served_version == "7" and reasons == []
    assert nothing_to_do(config.with_overrides(hparams={"epochs": 1}), history) == (None, ["config changed"])
    os.remove(tmp_path / "serving" / "7" / "saved_model.pb")
    assert "is gone" in nothing_to_do(config, history)[1][0]


def test_an_unprepared_dataset_always_runs(tmp_path, data_dir):
    config = registry.get("digits")
    history = RunHistory(str(tmp_path / "runs"))
    history.record_success(config.name, _success(config, tmp_path / "serving" / "7",
                                                 dataclasses.replace(run_key.run_key(config), dataset=None)))
    shutil.rmtree(data_dir / "digits")
    last, reasons = nothing_to_do(config, history)
    assert last is None and "not prepared" in reasons[0]


def test_a_corrupt_record_means_run(tmp_path):
    history = RunHistory(str(tmp_path))
    (tmp_path / "digits.json").write_text("{not json")
    assert history.last_success("digits") is None


def test_no_op_run_answers_without_tensorflow_and_is_listed(tmp_path, data_dir):
    config = registry.get("digits")
    output = tmp_path / "out"
    RunHistory(str(output / "runs")).record_success(config.name, _success(config, output / "serving" / "digits" / "7"))
    code = ("import sys; from zoo.cli import main; rc = main(sys.argv[1:]); "
            "print('tensorflow imported' if 'tensorflow' in sys.modules else 'no tensorflow'); sys.exit(rc)")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-c", code, "run", "digits", "--output", str(output)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("nothing changed since run run-1: version 7 is served")
    assert lines[1] == "no tensorflow"
    skipped = RunHistory(str(output / "runs")).skipped("digits")
    assert [(s["same_as"], s["served_version"], s["outcome"]) for s in skipped] == [("run-1", "7", "no-op")]
    # Recorded in ML Metadata (the store TFX's runs are in), not beside it.
    assert not (output / "runs" / "digits.skipped.jsonl").exists()
    from pipelines.metadata import SKIPPED_RUN, load_executions

    (row,) = load_executions(str(output / "metadata.sqlite"), SKIPPED_RUN, "digits")
    assert row["same_as"] == "run-1" and 0 < row["seconds"] < 300


def test_skipped_runs_are_recorded_in_ml_metadata_and_older_jsonl_is_read(tmp_path):
    from pipelines.metadata import PIPELINE_CONTEXT, SKIPPED_RUN, open_store

    history = RunHistory(str(tmp_path / "runs"))
    assert history.metadata == str(tmp_path / "metadata.sqlite")  # beside the runs folder, as `zoo run` has it
    assert history.skipped() == []
    success = Success("run-1", run_key.RunKey("a", "b", "c", "d"), "7", "/s/7", 1.0)
    history.record_skip("digits", 20.0, 0.5, success)
    history.record_skip("reviews", 30.0, 0.25, success)
    (tmp_path / "runs").mkdir(exist_ok=True)
    (tmp_path / "runs" / "digits.skipped.jsonl").write_text(json.dumps(
        {"pipeline": "digits", "started": 10.0, "seconds": 0.1, "same_as": "run-0", "served_version": "6"}) + "\n")
    assert [(s["pipeline"], s["started"], s["same_as"]) for s in history.skipped()] == [
        ("digits", 10.0, "run-0"), ("digits", 20.0, "run-1"), ("reviews", 30.0, "run-1")]
    assert [s["seconds"] for s in history.skipped("reviews")] == [0.25]
    store = open_store(history.metadata)
    (execution,) = store.get_executions_by_type(SKIPPED_RUN)[:1]
    (context,) = store.get_contexts_by_execution(execution.id)
    assert context.name == "digits" and store.get_context_types_by_id([context.type_id])[0].name == PIPELINE_CONTEXT


def test_a_skipped_run_the_store_cannot_take_is_kept_in_jsonl(tmp_path):
    from pipelines.metadata import connection_config

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the store's folder should be")
    history = RunHistory(str(tmp_path / "runs"), connection_config(str(blocked / "metadata.sqlite"), environ={}))
    history.record_skip("digits", 20.0, 0.5, Success("run-1", run_key.RunKey("a", "b", "c", "d"), "7", "/s/7", 1.0))
    (row,) = history.skipped("digits")
    assert (row["same_as"], row["started"]) == ("run-1", 20.0)
    assert (tmp_path / "runs" / "digits.skipped.jsonl").exists()


def test_no_op_path_imports_neither_tensorflow_nor_tfx(tmp_path, data_dir):
    """What the no-op path imports (ml_metadata is fine); its import time is printed for the report."""
    code = ("import sys, time; t = time.perf_counter(); import zoo.cli, pipelines.run_key, pipelines.runner, "
            "pipelines.metadata; from ml_metadata.metadata_store import metadata_store; "
            "print(f'{time.perf_counter() - t:.3f}'); "
            "print(sorted(m for m in ('tensorflow', 'tfx', 'keras', 'apache_beam') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    seconds, imported = done.stdout.strip().splitlines()
    assert imported == "[]"
    print(f"no-op path imports: {float(seconds):.3f}s")

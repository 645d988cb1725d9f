"""Scheduled runs of the real digits pipeline (marker ``pipeline``): an unchanged scheduled run takes the
no-op path, pushes nothing, and is recorded in ML Metadata with the manual runs; a run killed at its time
limit is recorded, leaves no half-written model, and the next run resumes from TFX's cache; two runs at once
share one SQLite ML Metadata store.

    .venv/bin/python -m pytest -q tests/orchestration/test_schedule_pipeline.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from pipelines.runs import load_firings, load_runs

pytestmark = pytest.mark.pipeline

EPOCHS = 8  # as tests/pipelines/test_digits_pipeline.py: enough for the digits CNN to be blessed
ARGS = ["--epochs", str(EPOCHS), "--no-report"]


def _zoo(*argv: str, timeout: float = 3600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo.cli", *argv], capture_output=True, text=True,
                          timeout=timeout)


def _schedule(folder, output: str, **run) -> str:
    path = os.path.join(str(folder), f"schedule-{time.time_ns()}.json")
    with open(path, "w") as f:
        json.dump({"output": output, "run": [{"pipeline": "digits", "cron": "0 3 * * *", **run}]}, f)
    return path


def _versions(output: str) -> dict[str, bool]:
    """Served version -> whether it is complete (has its SavedModel)."""
    base = os.path.join(output, "serving", "digits_cnn")
    return {v: os.path.isfile(os.path.join(base, v, "saved_model.pb")) for v in os.listdir(base) if v.isdigit()}


@pytest.fixture(scope="module")
def output(tmp_path_factory) -> str:
    output = str(tmp_path_factory.mktemp("scheduled") / "outputs")
    done = _zoo("run", "digits", *ARGS, "--output", output)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PUSHED version" in done.stdout
    return output


def test_an_unchanged_scheduled_run_is_a_cheap_no_op(output, tmp_path):
    before = _versions(output)
    done = _zoo("schedule", _schedule(tmp_path, output, args=ARGS), "--once", "digits", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    firing = load_firings(os.path.join(output, "metadata.sqlite"), "digits")[-1]
    # (A code edit in the working tree since the first run makes this a real run: "code changed".)
    assert firing["outcome"] == "no-op" and firing["trigger"] == "schedule", (firing, done.stdout)
    print(f"unchanged scheduled run: {firing['seconds']:.1f}s")  # the figure the report quotes
    assert _versions(output) == before
    shown = _zoo("runs", "digits", "--output", output, timeout=600).stdout
    assert any(" no-op " in line and "[schedule] nothing changed since" in line for line in shown.splitlines())


def test_a_killed_run_is_recorded_and_the_next_resumes_from_the_cache(output, tmp_path):
    before = _versions(output)
    runs_before = len(load_runs(os.path.join(output, "metadata.sqlite"), "digits"))
    # --no-cache re-runs every component, which takes longer than 15 s even on an idle machine
    # (importing TFX alone is most of that): the limit always strikes before the run ends.
    path = _schedule(tmp_path, output, args=[*ARGS, "--no-cache"], timeout=15)
    done = _zoo("schedule", path, "--once", "digits", timeout=600)
    firing = load_firings(os.path.join(output, "metadata.sqlite"), "digits")[-1]
    assert firing["outcome"] == "timeout" and done.returncode == 1, firing
    assert ": timeout in " in done.stdout and "killed after the time limit of 15s" in done.stdout
    after = _versions(output)
    assert all(after.values()), after  # nothing half-written is served
    assert set(after) == set(before)
    killed = load_runs(os.path.join(output, "metadata.sqlite"), "digits")
    # On a slow machine the limit may strike before the first component registered in ML Metadata.
    assert len(killed) in (runs_before, runs_before + 1)
    assert len(killed) == runs_before or killed[-1].status != "succeeded"

    rerun = _zoo("run", "digits", *ARGS, "--force", "--output", output)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    steps = {s.node: s.state for s in load_runs(os.path.join(output, "metadata.sqlite"), "digits")[-1].steps}
    assert steps["TfdsExampleGen"] == "cached" and steps["StatisticsGen"] == "cached", steps
    assert all(_versions(output).values())


def test_two_runs_at_once_share_one_sqlite_store(output):
    runs_before = len(load_runs(os.path.join(output, "metadata.sqlite"), "digits"))
    processes = [subprocess.Popen([sys.executable, "-m", "zoo.cli", "run", "digits", *ARGS, "--force",
                                   "--output", output], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]
    printed = [p.communicate(timeout=3600)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], printed
    runs = load_runs(os.path.join(output, "metadata.sqlite"), "digits")
    assert len(runs) == runs_before + 2
    assert all(run.status == "succeeded" for run in runs[-2:])

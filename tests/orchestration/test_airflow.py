"""``zoo compile --target airflow``: the generated Airflow 3 DAG, checked without Airflow: it compiles,
and executed against stand-ins of Airflow's ``DAG`` and ``BashOperator`` it builds one DAG with one task
that runs the project's command with retries, a time limit and one active run.
(tests/orchestration/test_airflow_dags_test.py runs it in a real Airflow, marker ``airflow``.)"""

from __future__ import annotations

import datetime
import shlex
import subprocess
import sys
import types

import pytest

from orchestration import airflow
from pipelines import registry


class _Recorder:
    made: list[tuple[str, dict]] = []

    def __init__(self, kind: str, **kwargs) -> None:
        self.made.append((kind, kwargs))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def _run_dag(source: str) -> list[tuple[str, dict]]:
    """Executes a DAG file with stand-in ``airflow`` modules; returns what it constructed."""
    _Recorder.made = []
    sdk = types.ModuleType("airflow.sdk")
    sdk.DAG = lambda **kwargs: _Recorder("DAG", **kwargs)
    bash = types.ModuleType("airflow.providers.standard.operators.bash")
    bash.BashOperator = lambda **kwargs: _Recorder("BashOperator", **kwargs)
    modules = {"airflow": types.ModuleType("airflow"), "airflow.sdk": sdk,
               "airflow.providers": types.ModuleType("airflow.providers"),
               "airflow.providers.standard": types.ModuleType("airflow.providers.standard"),
               "airflow.providers.standard.operators": types.ModuleType("airflow.providers.standard.operators"),
               "airflow.providers.standard.operators.bash": bash}
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        exec(compile(source, "dag.py", "exec"), {"__name__": "dag"})
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return _Recorder.made


@pytest.mark.parametrize("name", registry.names())
def test_every_pipeline_gets_a_dag_that_runs_zoo_run(tmp_path, name):
    path = airflow.write_dag(name, str(tmp_path), zoo="/srv/zoo/.venv/bin/zoo", workdir="/srv/zoo",
                             output="/srv/zoo/outputs", schedule="0 3 * * *", args=["--epochs", "2"],
                             retries=3, retry_delay_s=60, timeout_s=7200)
    assert path == str(tmp_path / f"zoo_{name}.py")
    with open(path) as f:
        made = _run_dag(f.read())
    assert [kind for kind, _ in made] == ["DAG", "BashOperator"]
    dag, task = made[0][1], made[1][1]
    assert dag["dag_id"] == f"zoo_{name}" and dag["schedule"] == "0 3 * * *"
    assert dag["max_active_runs"] == 1 and dag["catchup"] is False
    assert isinstance(dag["start_date"], datetime.datetime) and dag["start_date"].tzinfo is not None
    assert shlex.split(task["bash_command"]) == ["/srv/zoo/.venv/bin/zoo", "run", name, "--output",
                                                 "/srv/zoo/outputs", "--epochs", "2"]
    assert task["cwd"] == "/srv/zoo" and task["append_env"] is True
    assert task["retries"] == 3 and task["retry_delay"] == datetime.timedelta(seconds=60)
    assert task["execution_timeout"] == datetime.timedelta(hours=2)
    assert task["skip_on_exit_code"] == 3  # not blessed is not retried


def test_a_dag_without_schedule_is_triggered_by_hand(tmp_path):
    made = _run_dag(airflow.dag_source("digits", zoo="zoo", workdir="/w", output="/w/o"))
    assert made[0][1]["schedule"] is None


def test_arguments_with_spaces_are_quoted_for_bash():
    made = _run_dag(airflow.dag_source("digits", zoo="/my zoo/bin/zoo", workdir="/w", output="/w/out dir",
                                       args=["--hparam", "name=a b"]))
    assert shlex.split(made[1][1]["bash_command"])[-3:] == ["/w/out dir", "--hparam", "name=a b"]


@pytest.mark.parametrize("kwargs, message", [
    ({"schedule": "every night"}, "bad cron expression 'every night'"),
    ({"timeout_s": 0}, "the timeout > 0"),
    ({"retries": -1}, "retries"),
])
def test_bad_dag_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        airflow.dag_source("digits", zoo="zoo", workdir="/w", output="/w/o", **kwargs)


def test_cli_writes_the_dag_and_reports_bad_input(tmp_path):
    done = subprocess.run([sys.executable, "-m", "zoo.cli", "compile", "digits", "--target", "airflow",
                           "--out", str(tmp_path), "--schedule", "@daily", "--timeout", "30m"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "zoo_digits.py") as f:
        made = _run_dag(f.read())
    assert made[1][1]["execution_timeout"] == datetime.timedelta(minutes=30)
    bad = subprocess.run([sys.executable, "-m", "zoo.cli", "compile", "digits", "--target", "airflow",
                          "--out", str(tmp_path / "bad"), "--schedule", "99 * * * *"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: bad cron expression '99 * * * *'")
    assert len(bad.stderr.strip().splitlines()) == 1

"""The generated DAG in a real Airflow 3: its own venv (Python 3.11+, Airflow from PyPI), ``airflow db
migrate``, then ``airflow dags test`` runs the digits pipeline end to end on a tiny budget through the
DAG's ``BashOperator``.

Opt-in (marker ``airflow``; it installs Airflow and runs a pipeline, minutes)::

    .venv/bin/python -m pytest -q -m airflow tests/orchestration/test_airflow_dags_test.py

The venv is kept in ``ZOO_AIRFLOW_VENV`` (default ``.tmp/airflow/venv``) and reused when it already
has that Airflow; ``ZOO_AIRFLOW_VERSION`` picks the version (default 3.3.2).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import pytest

from orchestration import airflow

pytestmark = [pytest.mark.airflow, pytest.mark.pipeline]

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VERSION = os.environ.get("ZOO_AIRFLOW_VERSION", "3.3.2")
TINY = ["--epochs", "1", "--hparam", "steps_per_epoch=3", "--no-report"]


def _python311() -> str:
    """A Python 3.11+ for Airflow's venv: pyenv's or the system's."""
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(os.path.join(pyenv, "versions", "3.1[1-9]*", "bin", "python3")))
    candidates += [shutil.which(name) for name in ("python3.12", "python3.11", "python3")]
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "import sys; assert sys.version_info >= (3, 11)"],
                                        capture_output=True).returncode == 0:
            return candidate
    pytest.skip("no Python 3.11+ for Airflow's venv (pyenv install 3.11)")


def _airflow_venv() -> str:
    venv = os.environ.get("ZOO_AIRFLOW_VENV", os.path.join(ROOT, ".tmp", "airflow", "venv"))
    python = os.path.join(venv, "bin", "python")
    check = [python, "-c", f"import airflow; assert airflow.__version__ == {VERSION!r}"]
    if os.path.exists(python) and subprocess.run(check, capture_output=True).returncode == 0:
        return venv
    uv = shutil.which("uv") or os.path.join(ROOT, ".tools", "bin", "uv")
    if os.path.exists(uv):
        subprocess.run([uv, "venv", "-q", "--allow-existing", "-p", _python311(), venv], check=True)
        subprocess.run([uv, "pip", "install", "-q", "-p", python, f"apache-airflow=={VERSION}"], check=True,
                       timeout=1800)
    else:
        subprocess.run([_python311(), "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", f"apache-airflow=={VERSION}"], check=True,
                       timeout=1800)
    subprocess.run(check, check=True)
    return venv


def test_airflow_dags_test_runs_the_digits_pipeline(tmp_path):
    venv = _airflow_venv()
    dags, output = tmp_path / "dags", tmp_path / "outputs"
    zoo = os.path.join(os.path.dirname(sys.executable), "zoo")
    airflow.write_dag("digits", str(dags), zoo=zoo, workdir=ROOT, output=str(output), args=TINY, retries=0,
                      timeout_s=1800)
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home"), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.pop("PYTHONPATH", None)  # Airflow's venv must not see the project's packages
    command = os.path.join(venv, "bin", "airflow")
    subprocess.run([command, "db", "migrate"], env=env, check=True, capture_output=True, timeout=900)
    done = subprocess.run([command, "dags", "test", "zoo_digits"], env=env, capture_output=True, text=True,
                          timeout=2400)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert "DagRun Finished: dag_id=zoo_digits" in log and "state=success" in log, log[-4000:]
    assert f"zoo run digits --output {output}" in log
    # The run reached ML Metadata: trained and judged (a tiny budget is not blessed: exit 3 skips the task).
    from pipelines.runs import load_runs
    (run,) = load_runs(str(output / "metadata.sqlite"), "digits")
    states = {step.node: step.state for step in run.steps}
    assert states["Trainer"] == "ran" and states["Evaluator"] == "ran", states
    if run.push.get("pushed"):
        assert "new_state=success" in log
    else:
        assert "Bash command returned exit code 3. Skipping." in log

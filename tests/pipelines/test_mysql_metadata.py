"""ML Metadata in a real MySQL-protocol server (opt-in: marker ``mysql``): the digits pipeline records
its run there (``zoo run --metadata-mysql``), the no-op run and a scheduled firing land in the same store,
``zoo runs`` reads them all from it, and two processes record into it at once.

Each test module starts its own server (MariaDB's ``mariadbd`` or MySQL's ``mysqld``) in a temporary
folder on a free port, and skips, saying why, when no server binary is installed
(``apt-get install mariadb-server`` provides one)::

    .venv/bin/python -m pytest -q -m mysql tests/pipelines/test_mysql_metadata.py
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from pipelines import metadata

pytestmark = [pytest.mark.mysql, pytest.mark.pipeline]

EPOCHS = 8  # as tests/pipelines/test_digits_pipeline.py: enough for the digits CNN to be blessed
ARGS = ["--epochs", str(EPOCHS), "--no-report"]
SERVERS = ("mariadbd", "mysqld")
INSTALL_DB = ("mariadb-install-db", "mysql_install_db")
SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/local/mysql/bin")


def _which(names: tuple[str, ...]) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    return next((found for name in names if (found := shutil.which(name, path=path))), None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def mysql(request, tmp_path_factory) -> str:
    """A fresh server on a free port with a user ``zoo`` (password ``zoo-pw``): its ``ZOO_METADATA_MYSQL``
    address. Stopped (and its folder removed with the test's tmp dirs) when the module ends."""
    if "mysql" not in (request.config.getoption("markexpr", "") or ""):
        pytest.skip("a MySQL server test: run it with -m mysql")
    server, install = _which(SERVERS), _which(INSTALL_DB)
    if server is None or install is None:
        pytest.skip(f"no MySQL/MariaDB server binary ({'/'.join(SERVERS)} and {'/'.join(INSTALL_DB)}) found: "
                    "apt-get install mariadb-server")
    folder = tmp_path_factory.mktemp("mysql")
    data, sock, port = folder / "data", str(folder / "mysql.sock"), _free_port()
    root = ["--user=root"] if os.geteuid() == 0 else []  # mysqld refuses to run as root unless told to
    done = subprocess.run([install, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal",
                           "--skip-test-db", *root], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    log = folder / "server.log"
    process = subprocess.Popen([server, "--no-defaults", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
                                "--bind-address=127.0.0.1", f"--pid-file={folder / 'server.pid'}",
                                f"--log-error={log}", "--innodb-buffer-pool-size=32M", *root],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 120
        while not os.path.exists(sock):
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.time() < deadline, "the server did not start in 120 s: " + log.read_text()[-3000:]
            time.sleep(0.2)
        client = _which(("mariadb", "mysql"))
        sql = "CREATE USER 'zoo'@'%' IDENTIFIED BY 'zoo-pw'; GRANT ALL ON *.* TO 'zoo'@'%'; FLUSH PRIVILEGES;"
        done = subprocess.run([client, "--no-defaults", f"--socket={sock}", "-uroot", "-e", sql],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        yield f"zoo:zoo-pw@127.0.0.1:{port}/zoo_mlmd"
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _zoo(*argv: str, env: dict | None = None, timeout: float = 3600) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != metadata.MYSQL_ENV}
    return subprocess.run([sys.executable, "-m", "zoo.cli", *argv], capture_output=True, text=True,
                          env={**environ, **(env or {})}, timeout=timeout)


def test_digits_records_into_mysql_with_its_no_op_and_scheduled_runs(mysql, tmp_path):
    from orchestration import schedule as sched
    from pipelines.runs import load_firings, load_runs

    config = metadata.parse_mysql(mysql)
    output = str(tmp_path / "outputs")
    # A firing recorded before TFX ever ran: TFX's pipeline context must accept the one it made.
    early = sched.fire(sched.Entry("digits", "0 3 * * *"), output, 0.0, mysql=mysql,
                       command=lambda entry, out: [sys.executable, "-c", "import sys; print('error: early'); "
                                                   "sys.exit(1)"])
    assert early["outcome"] == "failed"

    done = _zoo("run", "digits", *ARGS, "--output", output, "--metadata-mysql", mysql)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PUSHED version" in done.stdout, done.stdout
    assert not os.path.exists(os.path.join(output, "metadata.sqlite"))  # everything went to MySQL
    (run,) = load_runs(config, "digits")
    assert run.status == "succeeded" and run.blessed and run.push.get("pushed")

    # The no-op run, told by the environment. (Others editing the working tree's code make a run real:
    # "code changed"; the run after it is then the no-op.)
    for _ in range(3):
        noop = _zoo("run", "digits", *ARGS, "--output", output, env={metadata.MYSQL_ENV: mysql})
        assert noop.returncode == 0, noop.stdout + noop.stderr
        if noop.stdout.startswith("nothing changed since run "):
            break
    last = load_runs(config, "digits")[-1]
    assert noop.stdout.startswith(f"nothing changed since run {last.run_id}"), noop.stdout
    assert not os.path.exists(os.path.join(output, "metadata.sqlite"))

    assert [f["reason"] for f in load_firings(config, "digits")] == ["error: early"]
    shown = _zoo("runs", "digits", "--output", output, "--metadata-mysql", mysql, timeout=600)
    assert shown.returncode == 0, shown.stderr
    rows = shown.stdout.strip().splitlines()[1:]
    assert "[schedule] error: early" in rows[0], rows
    assert " succeeded " in rows[1] and f"v{run.push['pushed_version']}" in rows[1], rows
    assert " no-op " in rows[-1] and f"nothing changed since {last.run_id}" in rows[-1], rows
    assert len(rows) == 2 + len(load_runs(config, "digits")), rows
    # TFX logs its connection config: the run's log has the password blanked out.
    logs = [os.path.join(folder, name) for folder, _, names in os.walk(os.path.join(output, "logs")) for name in names]
    texts = [open(log).read() for log in logs]
    assert not any(metadata.parse_mysql(mysql).mysql.password in text for text in texts)
    assert any('password: "***"' in text for text in texts)
    # The SQLite store of the same output holds nothing: `zoo runs` without MySQL says so.
    assert _zoo("runs", "digits", "--output", output, timeout=600).returncode == 1


RECORDER = textwrap.dedent("""
    import sys, time
    from ml_metadata.proto import metadata_store_pb2
    from pipelines import metadata

    address, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = metadata.check_reachable(metadata.parse_mysql(address))  # a racing schema creator retries
    for attempt in range(20):  # so does a racing type creator, as TFX does
        try:
            type_id = store.put_execution_type(metadata_store_pb2.ExecutionType(name="probe"))
            break
        except Exception:
            time.sleep(0.1)
    for i in range(count):
        store.put_executions([metadata_store_pb2.Execution(type_id=type_id, name=f"{name}-{i}")])
        metadata.record_execution(metadata.parse_mysql(address), metadata.SCHEDULED_FIRING,
                                  {"pipeline": "concurrent", "started": float(i), "outcome": "no-op",
                                   "reason": f"{name}-{i}", "seconds": 0.1})
""")


def test_two_processes_record_into_one_mysql_store(mysql):
    writers = [subprocess.Popen([sys.executable, "-c", RECORDER, mysql, name, "60"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outputs = [writer.communicate(timeout=600) for writer in writers]
    assert [w.returncode for w in writers] == [0, 0], [err[-2000:] for _, err in outputs]
    expected = sorted([f"a-{i}" for i in range(60)] + [f"b-{i}" for i in range(60)])
    config = metadata.parse_mysql(mysql)
    store = metadata.open_store(config)
    assert sorted(e.name for e in store.get_executions_by_type("probe")) == expected
    assert sorted(r["reason"] for r in metadata.load_executions(config, metadata.SCHEDULED_FIRING,
                                                                "concurrent")) == expected


def test_two_pipeline_runs_at_once_record_into_one_mysql_store(mysql, tmp_path):
    """Two ``zoo run digits --force`` at once (TFX's cache answers most components) into one MySQL store."""
    from pipelines.runs import load_runs

    config = metadata.parse_mysql(mysql)
    output = str(tmp_path / "outputs")
    before = len(load_runs(config, "digits"))
    processes = [subprocess.Popen([sys.executable, "-m", "zoo.cli", "run", "digits", *ARGS, "--force",
                                   "--output", output, "--metadata-mysql", mysql],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]
    printed = [p.communicate(timeout=3600)[0] for p in processes]
    # Pushed, or (when the code changed since the first test's run, so both train) one not blessed against
    # the model the other just pushed: either way both ran through and recorded their run.
    assert all(p.returncode in (0, 3) for p in processes), printed
    runs = load_runs(config, "digits")
    assert len(runs) == before + 2
    assert all(run.status == "succeeded" for run in runs[-2:])

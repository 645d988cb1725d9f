"""The ML Metadata store (pipelines/metadata.py): SQLite by default, MySQL by argument, flag or
ZOO_METADATA_MYSQL, one-line errors for a bad address or an unreachable server (``zoo run`` stops before
any component runs), two processes writing one SQLite store, and the runs TFX does not record
(``zoo.ScheduledFiring``, ``zoo.SkippedRun``) as executions in the pipeline's context.

A real MySQL server: tests/pipelines/test_mysql_metadata.py (marker ``mysql``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from components.fingerprint import PROJECT_ROOT
from pipelines import metadata


def test_sqlite_by_default_and_mysql_by_environment():
    config = metadata.connection_config("/o/metadata.sqlite", environ={})
    assert config.sqlite.filename_uri == "/o/metadata.sqlite" and not config.HasField("mysql")
    config = metadata.connection_config("/o/metadata.sqlite", environ={metadata.MYSQL_ENV: "db:3310/zoo_mlmd"})
    assert (config.mysql.host, config.mysql.port, config.mysql.database) == ("db", 3310, "zoo_mlmd")
    assert not config.mysql.user and not config.HasField("sqlite")
    # The argument wins over the environment; the port defaults to MySQL's.
    config = metadata.connection_config("x", mysql="u:p@h/d", environ={metadata.MYSQL_ENV: "db:3310/other"})
    assert (config.mysql.host, config.mysql.port, config.mysql.user, config.mysql.password) == ("h", 3306, "u", "p")
    assert metadata.describe(config) == "MySQL u@h:3306/d"  # no password


@pytest.mark.parametrize("text", ["db:3306", "db:port/x", "/db", "db:3306/bad-name"])
def test_a_bad_mysql_address_is_a_one_line_error(text):
    with pytest.raises(metadata.MetadataStoreError, match=r"bad MySQL address .*host\[:port\]/database$"):
        metadata.parse_mysql(text)


def test_an_unreachable_mysql_is_a_one_line_error():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = metadata.connection_config("x", mysql=f"zoo:pw@127.0.0.1:{port}/mlmd")
    with pytest.raises(metadata.MetadataStoreError) as error:
        metadata.check_reachable(config, timeout_s=2)
    assert str(error.value) == f"ML Metadata's MySQL zoo@127.0.0.1:{port}/mlmd is unreachable: Connection refused"


def test_an_unopenable_sqlite_store_is_a_one_line_error(tmp_path):
    config = metadata.connection_config(str(tmp_path / "missing" / "metadata.sqlite"), environ={})
    with pytest.raises(metadata.MetadataStoreError, match=r"^ML Metadata's SQLite .* cannot be opened: "):
        metadata.check_reachable(config)


WRITER = textwrap.dedent("""
    import sys, time
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    from pipelines.metadata import connection_config

    path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for attempt in range(50):  # the store's schema is created once; a racing creator retries, as TFX does
        try:
            store = metadata_store.MetadataStore(connection_config(path, environ={}))
            type_id = store.put_execution_type(metadata_store_pb2.ExecutionType(name="probe"))
            break
        except Exception:
            time.sleep(0.1)
    written = 0
    while written < count:
        execution = metadata_store_pb2.Execution(type_id=type_id, name=f"{name}-{written}")
        try:
            store.put_executions([execution])
            written += 1
        except Exception as error:  # "Concurrent writes aborted": retried, as TFX retries
            time.sleep(0.05)
    print(written)
""")


def test_two_processes_record_into_one_sqlite_store(tmp_path):
    path = str(tmp_path / "metadata.sqlite")
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, path, name, "150"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outputs = [writer.communicate(timeout=600) for writer in writers]
    assert [w.returncode for w in writers] == [0, 0], [err[-2000:] for _, err in outputs]
    from ml_metadata.metadata_store import metadata_store

    store = metadata_store.MetadataStore(metadata.connection_config(path, environ={}))
    names = sorted(e.name for e in store.get_executions_by_type("probe"))
    assert names == sorted([f"a-{i}" for i in range(150)] + [f"b-{i}" for i in range(150)])


def _closed_port() -> int:
    with socket.socket() as probe:  # bound, never listening, closed: nobody answers there
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _zoo(*argv: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    """``zoo`` in a subprocess (no ZOO_METADATA_MYSQL unless ``env`` sets it); prints whether it imported TF."""
    code = ("import sys; from zoo.cli import main; rc = main(sys.argv[1:]); "
            "print('tensorflow imported' if 'tensorflow' in sys.modules else 'no tensorflow'); sys.exit(rc)")
    environ = {k: v for k, v in os.environ.items() if k != metadata.MYSQL_ENV}
    environ.update(PYTHONPATH=str(PROJECT_ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=environ,
                          cwd=cwd, timeout=600)


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_zoo_run_stops_in_one_line_before_any_component_on_an_unreachable_mysql(tmp_path, how):
    port = _closed_port()
    address = f"zoo:pw@127.0.0.1:{port}/mlmd"
    output = tmp_path / "out"
    argv = ["run", "digits", "--output", str(output), "--no-report"]
    done = (_zoo(*argv, "--metadata-mysql", address, cwd=tmp_path) if how == "flag" else
            _zoo(*argv, env={metadata.MYSQL_ENV: address}, cwd=tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip() == (f"error: ML Metadata's MySQL zoo@127.0.0.1:{port}/mlmd is unreachable: "
                                   "Connection refused"), done.stderr
    # Before any component (and before TensorFlow is imported): no pipeline root, no log, no SQLite fallback.
    assert done.stdout.strip() == "no tensorflow"
    assert sorted(p.name for p in output.iterdir()) == []


def test_zoo_runs_and_schedule_report_an_unreachable_mysql_in_one_line(tmp_path):
    port = _closed_port()
    done = _zoo("runs", "--output", str(tmp_path), "--metadata-mysql", f"127.0.0.1:{port}/mlmd")
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: ML Metadata's MySQL 127.0.0.1:{port}/mlmd is unreachable: Connection refused"
    schedule = tmp_path / "s.json"
    schedule.write_text('{"output": "%s", "run": [{"pipeline": "digits", "cron": "0 3 * * *"}]}' % (tmp_path / "o"))
    done = _zoo("schedule", str(schedule), "--once", "digits", env={metadata.MYSQL_ENV: f"127.0.0.1:{port}/mlmd"})
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == f"error: ML Metadata's MySQL 127.0.0.1:{port}/mlmd is unreachable: Connection refused"
    assert not (tmp_path / "o" / "logs").exists()  # nothing was fired


def test_zoo_run_reports_a_bad_mysql_address_in_one_line(tmp_path):
    done = _zoo("run", "digits", "--output", str(tmp_path / "out"), "--metadata-mysql", "db:3306", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == ("error: bad MySQL address 'db:3306': expected "
                                   "[user[:password]@]host[:port]/database")


def test_the_runner_records_into_the_configured_store(monkeypatch):
    from pipelines.runner import Paths

    monkeypatch.delenv(metadata.MYSQL_ENV, raising=False)
    assert Paths("/o").metadata_config.sqlite.filename_uri == "/o/metadata.sqlite"
    assert Paths("/o", "db:3310/m").metadata_config.mysql.port == 3310
    monkeypatch.setenv(metadata.MYSQL_ENV, "envdb/m")
    assert Paths("/o").metadata_config.mysql.host == "envdb"
    assert Paths("/o", "flagdb/m").metadata_config.mysql.host == "flagdb"  # the flag wins


# ------------------------------------------------------ runs TFX does not record


def _firing(pipeline: str, started: float, **more) -> dict:
    return {"pipeline": pipeline, "cron": "0 3 * * *", "trigger": "schedule", "scheduled_for": started - 1.0,
            "started": started, "seconds": 2.5, "outcome": "pushed", "reason": "PUSHED version 3 to /s/3",
            "run_id": "2026-01-01T03:00:00.1", "exit_code": 0, "log": "/o/logs/x.log", **more}


def test_firings_are_executions_in_the_pipelines_context(tmp_path):
    from ml_metadata.proto import metadata_store_pb2

    store = str(tmp_path / "metadata.sqlite")
    assert metadata.load_executions(store, metadata.SCHEDULED_FIRING) == []  # no store yet
    records = [_firing("digits", 200.0), _firing("reviews", 100.0, outcome="failed", run_id=None, exit_code=1),
               _firing("digits", 300.0, outcome="skipped", run_id=None, exit_code=None, log=None)]
    ids = [metadata.record_execution(store, metadata.SCHEDULED_FIRING, r) for r in records]
    assert metadata.load_executions(store, metadata.SCHEDULED_FIRING) == sorted(records, key=lambda r: r["started"])
    assert metadata.load_executions(store, metadata.SCHEDULED_FIRING, "digits") == [records[0], records[2]]
    assert metadata.load_executions(store, metadata.SKIPPED_RUN) == []

    opened = metadata.open_store(store)
    (execution,) = opened.get_executions_by_id([ids[0]])
    assert opened.get_execution_types_by_id([execution.type_id])[0].name == "zoo.ScheduledFiring"
    assert execution.properties["fired_at"].double_value == 200.0
    assert execution.properties["outcome"].string_value == "pushed"
    assert execution.last_known_state == metadata_store_pb2.Execution.COMPLETE
    (context,) = opened.get_contexts_by_execution(ids[0])
    assert (context.name, opened.get_context_types_by_id([context.type_id])[0].name) == ("digits", "pipeline")
    failed, skipped = opened.get_executions_by_id([ids[1], ids[2]])
    assert failed.last_known_state == metadata_store_pb2.Execution.FAILED
    assert skipped.last_known_state == metadata_store_pb2.Execution.CANCELED
    assert "run_id" not in skipped.properties  # None is not recorded, and reads back as None


def test_records_keep_out_keys_outside_their_schema(tmp_path):
    store = str(tmp_path / "metadata.sqlite")
    metadata.record_execution(store, metadata.SKIPPED_RUN, {"pipeline": "digits", "started": 5.0, "seconds": 0.2,
                                                            "outcome": "no-op", "same_as": "r1",
                                                            "served_version": "4", "unknown": "dropped"})
    (row,) = metadata.load_executions(store, metadata.SKIPPED_RUN, "digits")
    assert row == {"pipeline": "digits", "started": 5.0, "seconds": 0.2, "outcome": "no-op", "run_id": None,
                   "same_as": "r1", "served_version": "4"}


def test_a_mysql_gone_away_fails_recording_in_one_line_quickly(tmp_path):
    config = metadata.connection_config("x", mysql=f"127.0.0.1:{_closed_port()}/mlmd")
    start = time.time()
    with pytest.raises(metadata.MetadataStoreError, match=r"^cannot record a zoo.SkippedRun: ML Metadata's MySQL "
                                                          r"127.0.0.1:\d+/mlmd is unreachable: Connection refused$"):
        metadata.record_execution(config, metadata.SKIPPED_RUN, {"pipeline": "digits", "started": 1.0})
    assert time.time() - start < 30  # not WRITE_ATTEMPTS retries against a closed port


RECORDER = textwrap.dedent("""
    import sys
    from pipelines import metadata

    path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for i in range(count):
        metadata.record_execution(path, metadata.SCHEDULED_FIRING, {"pipeline": "digits", "started": float(i),
                                  "outcome": "no-op", "reason": f"{name}-{i}", "seconds": 0.1})
""")


def test_two_processes_record_firings_into_one_sqlite_store(tmp_path):
    path = str(tmp_path / "metadata.sqlite")
    writers = [subprocess.Popen([sys.executable, "-c", RECORDER, path, name, "40"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outputs = [writer.communicate(timeout=600) for writer in writers]
    assert [w.returncode for w in writers] == [0, 0], [err[-2000:] for _, err in outputs]
    reasons = sorted(r["reason"] for r in metadata.load_executions(path, metadata.SCHEDULED_FIRING, "digits"))
    assert reasons == sorted([f"a-{i}" for i in range(40)] + [f"b-{i}" for i in range(40)])
    # One pipeline context, however the two raced to create it.
    assert [c.name for c in metadata.open_store(path).get_contexts_by_type("pipeline")] == ["digits"]

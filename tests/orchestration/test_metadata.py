"""The ML Metadata connection: SQLite by default, MySQL by argument or ZOO_METADATA_MYSQL, one-line
errors for a bad address or an unreachable server, and two processes writing one SQLite store."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap

import pytest

from orchestration import metadata


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
    from orchestration.metadata import connection_config

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

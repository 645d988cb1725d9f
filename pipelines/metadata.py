"""The ML Metadata store: its connection (SQLite by default, MySQL for shared, concurrent use) and the
records of runs that TFX does not make (scheduled firings, no-op runs).

MySQL is named by an argument (``zoo run --metadata-mysql``, ``connection_config(..., mysql=...)``) or
the environment variable ``ZOO_METADATA_MYSQL`` as ``[user[:password]@]host[:port]/database`` and
becomes ML Metadata's own ``ConnectionConfig`` (``mysql`` field), the one
TFX's pipelines take as ``metadata_connection_config``. A store that cannot be
reached is a one-line :class:`MetadataStoreError` before any component runs.

>>> config = connection_config("outputs/metadata.sqlite", mysql="zoo:secret@db.internal:3307/mlmd")
>>> config.mysql.host, config.mysql.port, config.mysql.database, config.mysql.user
('db.internal', 3307, 'mlmd', 'zoo')
>>> describe(config)
'MySQL zoo@db.internal:3307/mlmd'

Runs TFX does not record are MLMD executions of their own types, attached to
the pipeline's ``pipeline`` context (the one TFX attaches every component's
execution to), so one store answers ``zoo runs`` for scheduled and manual
runs alike: :data:`SCHEDULED_FIRING` (one per ``zoo schedule`` firing) and
:data:`SKIPPED_RUN` (one per ``zoo run`` that found nothing to do). Importing
this module imports ``ml_metadata``'s protos only (no TFX, no TensorFlow).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from typing import Any

from ml_metadata.proto import metadata_store_pb2

MYSQL_ENV = "ZOO_METADATA_MYSQL"
MYSQL_PORT = 3306
SQLITE_NAME = "metadata.sqlite"
# A store opened by several processes at once for the first time: one creates its schema, the others retry
# (for up to OPEN_RACE_S) on ML Metadata's errors that say so.
OPEN_RACE_S = 60.0
_RACE = re.compile(r"retry|concurrent|doesn't exist|already exists|locked", re.IGNORECASE)
_MYSQL = re.compile(r"(?:(?P<user>[^:@/]+)(?::(?P<password>[^@]*))?@)?(?P<host>[^:/@]+)(?::(?P<port>\d+))?"
                    r"/(?P<database>[A-Za-z0-9_$]+)")

Config = metadata_store_pb2.ConnectionConfig


class MetadataStoreError(RuntimeError):
    """The metadata store is misconfigured or unreachable: reported as one line."""


def parse_mysql(text: str) -> Config:
    """ML Metadata's MySQL ``ConnectionConfig`` from ``[user[:password]@]host[:port]/database``."""
    match = _MYSQL.fullmatch(text.strip())
    if not match:
        raise MetadataStoreError(f"bad MySQL address {text!r}: expected [user[:password]@]host[:port]/database")
    config = Config()
    config.mysql.host = match["host"]
    config.mysql.port = int(match["port"] or MYSQL_PORT)
    config.mysql.database = match["database"]
    if match["user"]:
        config.mysql.user = match["user"]
    if match["password"]:
        config.mysql.password = match["password"]
    return config


def mysql_address(mysql: str | None = None, environ: dict[str, str] | None = None) -> str | None:
    """The MySQL address in use: ``mysql`` when given, else ``ZOO_METADATA_MYSQL``, else ``None`` (SQLite)."""
    return mysql or (os.environ if environ is None else environ).get(MYSQL_ENV) or None


def connection_config(sqlite_path: str, mysql: str | None = None, environ: dict[str, str] | None = None,
                      read_only: bool = False) -> Config:
    """MySQL when given (argument, then ``ZOO_METADATA_MYSQL``), else the SQLite file ``sqlite_path``."""
    mysql = mysql_address(mysql, environ)
    if mysql:
        return parse_mysql(mysql)
    config = Config()
    config.sqlite.filename_uri = sqlite_path
    config.sqlite.connection_mode = (metadata_store_pb2.SqliteMetadataSourceConfig.READONLY if read_only else
                                     metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
    return config


def output_config(output: str, mysql: str | None = None, environ: dict[str, str] | None = None) -> Config:
    """The store of an output folder: ``<output>/metadata.sqlite`` unless MySQL is named."""
    return connection_config(os.path.join(output, SQLITE_NAME), mysql, environ)


def as_config(store: str | Config) -> Config:
    """A ``ConnectionConfig`` from a config or a SQLite file's path (older callers pass paths)."""
    return store if isinstance(store, Config) else connection_config(store, environ={})


def describe(config: Config) -> str:
    """The store in words, without its password."""
    if config.HasField("mysql"):
        user = f"{config.mysql.user}@" if config.mysql.user else ""
        return f"MySQL {user}{config.mysql.host}:{config.mysql.port}/{config.mysql.database}"
    return f"SQLite {config.sqlite.filename_uri}"


def _unreachable(config: Config, timeout_s: float = 5.0) -> str | None:
    """Why the MySQL server of ``config`` cannot be reached by TCP (``None`` when it can)."""
    try:
        with socket.create_connection((config.mysql.host, config.mysql.port), timeout=timeout_s):
            return None
    except OSError as error:
        return f"ML Metadata's {describe(config)} is unreachable: {error.strerror or type(error).__name__}"


def check_reachable(config: Config, timeout_s: float = 5.0):
    """Connects once (a TCP connect first for MySQL, so an unreachable server fails fast) and returns the
    open ``MetadataStore``, or raises a one-line :class:`MetadataStoreError`."""
    if config.HasField("mysql") and (reason := _unreachable(config, timeout_s)):
        raise MetadataStoreError(reason)
    from ml_metadata.metadata_store import metadata_store

    deadline = time.monotonic() + OPEN_RACE_S
    while True:
        try:
            return metadata_store.MetadataStore(config)
        except Exception as error:  # ml_metadata raises its own errors (and RuntimeError) here
            # Processes that open a new store at once race to create its schema: the losers retry.
            if not _RACE.search(str(error)) or time.monotonic() > deadline:
                first = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise MetadataStoreError(f"ML Metadata's {describe(config)} cannot be opened: {first}") from None
            time.sleep(0.25)


class HidePassword(logging.Filter):
    """Blanks the MySQL password of ``config`` out of log records (TFX logs its connection config at INFO).

    >>> record = logging.LogRecord("tfx", logging.INFO, "", 0, "config: %s", ('password: "s3cret"',), None)
    >>> HidePassword(parse_mysql("zoo:s3cret@db/mlmd")).filter(record), record.getMessage()
    (True, 'config: password: "***"')
    """

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.password = config.mysql.password if config.HasField("mysql") else ""

    def filter(self, record: logging.LogRecord) -> bool:
        if self.password:
            message = record.getMessage()
            if self.password in message:
                record.msg, record.args = message.replace(self.password, "***"), ()
        return True


def apply(pipeline, config: Config):
    """``pipeline`` (a TFX ``Pipeline``) recording into ``config`` instead of the factory's SQLite file."""
    pipeline.metadata_connection_config = config
    return pipeline


def open_store(store: str | Config, read_only: bool = True):
    """An open ``MetadataStore``; a SQLite file that does not exist is a ``FileNotFoundError``
    when reading (no pipeline has run there yet)."""
    from ml_metadata.metadata_store import metadata_store

    config = as_config(store)
    if config.HasField("sqlite"):
        if read_only and not os.path.exists(config.sqlite.filename_uri):
            raise FileNotFoundError(f"no ML Metadata store at {config.sqlite.filename_uri}: "
                                    "no pipeline has run there yet")
        copy = Config()
        copy.CopyFrom(config)
        copy.sqlite.connection_mode = (metadata_store_pb2.SqliteMetadataSourceConfig.READONLY if read_only else
                                       metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
        config = copy
    return metadata_store.MetadataStore(config)


# ------------------------------------------------------ runs TFX does not record

PIPELINE_CONTEXT = "pipeline"  # TFX's own context type: one context per pipeline, named after it
SCHEDULED_FIRING = "zoo.ScheduledFiring"
SKIPPED_RUN = "zoo.SkippedRun"
_S, _D, _I = metadata_store_pb2.STRING, metadata_store_pb2.DOUBLE, metadata_store_pb2.INT
# Property schemas; ``fired_at`` is a record's ``started`` (unix seconds).
SCHEMAS: dict[str, dict[str, int]] = {
    SCHEDULED_FIRING: {"pipeline": _S, "fired_at": _D, "outcome": _S, "seconds": _D, "run_id": _S,
                       "trigger": _S, "cron": _S, "scheduled_for": _D, "reason": _S, "exit_code": _I, "log": _S},
    SKIPPED_RUN: {"pipeline": _S, "fired_at": _D, "outcome": _S, "seconds": _D, "run_id": _S,
                  "same_as": _S, "served_version": _S},
}
_RENAMED = {"started": "fired_at"}
# An execution's state from a record's outcome (what MLMD's own tools show).
_STATES = {"failed": metadata_store_pb2.Execution.FAILED, "timeout": metadata_store_pb2.Execution.FAILED,
           "skipped": metadata_store_pb2.Execution.CANCELED}
WRITE_ATTEMPTS = 20  # SQLite's rare "Concurrent writes aborted" is retried, as TFX retries it


def _set(value: metadata_store_pb2.Value, kind: int, item: Any) -> None:
    if kind == _S:
        value.string_value = str(item)
    elif kind == _D:
        value.double_value = float(item)
    else:
        value.int_value = int(item)


def _get(value: metadata_store_pb2.Value) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _pipeline_context(store, pipeline: str) -> metadata_store_pb2.Context:
    type_id = store.put_context_type(metadata_store_pb2.ContextType(name=PIPELINE_CONTEXT),
                                     can_add_fields=True, can_omit_fields=True)
    found = store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline)
    if found is not None:
        return found
    context = metadata_store_pb2.Context(type_id=type_id, name=pipeline)
    context.id = store.put_contexts([context])[0]  # a racing writer's AlreadyExists is retried by the caller
    return context


def record_execution(store: str | Config, type_name: str, record: dict[str, Any]) -> int:
    """Puts ``record`` (a dict with ``pipeline``, ``started``, ``outcome``, ``seconds`` ... as in
    :data:`SCHEMAS`) as one execution of ``type_name`` in the pipeline's context; returns its id.
    Keys outside the schema and ``None`` values are left out."""
    schema = SCHEMAS[type_name]
    execution_type = metadata_store_pb2.ExecutionType(name=type_name)
    for key, kind in schema.items():
        execution_type.properties[key] = kind
    execution = metadata_store_pb2.Execution(
        last_known_state=_STATES.get(record.get("outcome"), metadata_store_pb2.Execution.COMPLETE))
    for key, item in record.items():
        key = _RENAMED.get(key, key)
        if key in schema and item is not None:
            _set(execution.properties[key], schema[key], item)
    config = as_config(store)
    if config.HasField("mysql") and (reason := _unreachable(config)):
        raise MetadataStoreError(f"cannot record a {type_name}: {reason}")
    error: Exception | None = None
    for attempt in range(WRITE_ATTEMPTS):
        try:
            opened = open_store(config, read_only=False)
            execution.type_id = opened.put_execution_type(execution_type, can_add_fields=True)
            context = _pipeline_context(opened, str(record["pipeline"]))
            execution_id, _, _ = opened.put_execution(execution, [], [context])
            return execution_id
        except Exception as exc:  # ml_metadata's errors: concurrent writers on SQLite, a racing context
            error = exc
            if config.HasField("mysql") and (reason := _unreachable(config)):
                # A server that went away: no use retrying.
                raise MetadataStoreError(f"cannot record a {type_name}: {reason}") from None
            time.sleep(0.05 * (attempt + 1))
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    raise MetadataStoreError(f"cannot record a {type_name} in ML Metadata's {describe(config)}: {first}")


def load_executions(store: str | Config, type_name: str, pipeline: str | None = None) -> list[dict[str, Any]]:
    """The records of ``type_name`` (oldest first; only ``pipeline``'s when given) as dicts with every
    schema key (``started`` for ``fired_at``; ``None`` where not recorded). A store that does not exist
    yet, or holds no such type, has none."""
    from ml_metadata import errors

    try:
        opened = open_store(store, read_only=True)
    except FileNotFoundError:
        return []
    try:
        type_id = opened.get_execution_type(type_name).id
    except errors.NotFoundError:
        return []
    if pipeline is None:
        executions = opened.get_executions_by_type(type_name)
    else:
        context = opened.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline)
        executions = [] if context is None else [e for e in opened.get_executions_by_context(context.id)
                                                 if e.type_id == type_id]
    started = {v: k for k, v in _RENAMED.items()}
    rows = [{started.get(key, key): (_get(e.properties[key]) if key in e.properties else None)
             for key in SCHEMAS[type_name]} for e in executions]
    return sorted(rows, key=lambda row: row["started"] or 0.0)


def read_jsonl(runs_folder: str, suffix: str, pipeline: str | None = None) -> list[dict[str, Any]]:
    """The records of ``<runs_folder>/<pipeline><suffix>`` (every pipeline's when ``pipeline`` is None):
    where runs were recorded before ML Metadata held them."""
    if not os.path.isdir(runs_folder):
        return []
    rows = []
    for file in sorted(os.listdir(runs_folder)):
        if not file.endswith(suffix) or (pipeline and file != pipeline + suffix):
            continue
        with open(os.path.join(runs_folder, file)) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows

"""The ML Metadata store's connection: SQLite by default, MySQL for shared, concurrent use.

MySQL is named by an argument (``connection_config(..., mysql=...)``) or the
environment variable ``ZOO_METADATA_MYSQL`` as ``[user[:password]@]host[:port]/database`` and
becomes ML Metadata's own ``ConnectionConfig`` (``mysql`` field), the one
TFX's pipelines take as ``metadata_connection_config``. A store that cannot be
reached is a one-line :class:`MetadataStoreError` before any component runs.

>>> config = connection_config("outputs/metadata.sqlite", mysql="zoo:secret@db.internal:3307/mlmd")
>>> config.mysql.host, config.mysql.port, config.mysql.database, config.mysql.user
('db.internal', 3307, 'mlmd', 'zoo')
>>> describe(config)
'MySQL zoo@db.internal:3307/mlmd'
"""

from __future__ import annotations

import os
import re
import socket

from ml_metadata.proto import metadata_store_pb2

MYSQL_ENV = "ZOO_METADATA_MYSQL"
MYSQL_PORT = 3306
_MYSQL = re.compile(r"(?:(?P<user>[^:@/]+)(?::(?P<password>[^@]*))?@)?(?P<host>[^:/@]+)(?::(?P<port>\d+))?"
                    r"/(?P<database>[A-Za-z0-9_$]+)")


class MetadataStoreError(RuntimeError):
    """The metadata store is misconfigured or unreachable: reported as one line."""


def parse_mysql(text: str) -> metadata_store_pb2.ConnectionConfig:
    """ML Metadata's MySQL ``ConnectionConfig`` from ``[user[:password]@]host[:port]/database``."""
    match = _MYSQL.fullmatch(text.strip())
    if not match:
        raise MetadataStoreError(f"bad MySQL address {text!r}: expected [user[:password]@]host[:port]/database")
    config = metadata_store_pb2.ConnectionConfig()
    config.mysql.host = match["host"]
    config.mysql.port = int(match["port"] or MYSQL_PORT)
    config.mysql.database = match["database"]
    if match["user"]:
        config.mysql.user = match["user"]
    if match["password"]:
        config.mysql.password = match["password"]
    return config


def connection_config(sqlite_path: str, mysql: str | None = None,
                      environ: dict[str, str] | None = None) -> metadata_store_pb2.ConnectionConfig:
    """MySQL when given (argument, then ``ZOO_METADATA_MYSQL``), else the SQLite file ``sqlite_path``."""
    mysql = mysql or (os.environ if environ is None else environ).get(MYSQL_ENV)
    if mysql:
        return parse_mysql(mysql)
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = sqlite_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return config


def describe(config: metadata_store_pb2.ConnectionConfig) -> str:
    """The store in words, without its password."""
    if config.HasField("mysql"):
        user = f"{config.mysql.user}@" if config.mysql.user else ""
        return f"MySQL {user}{config.mysql.host}:{config.mysql.port}/{config.mysql.database}"
    return f"SQLite {config.sqlite.filename_uri}"


def check_reachable(config: metadata_store_pb2.ConnectionConfig, timeout_s: float = 5.0) -> None:
    """Connects once (a TCP connect first for MySQL, so an unreachable server fails fast), or raises
    a one-line :class:`MetadataStoreError`."""
    if config.HasField("mysql"):
        try:
            with socket.create_connection((config.mysql.host, config.mysql.port), timeout=timeout_s):
                pass
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise MetadataStoreError(f"ML Metadata's {describe(config)} is unreachable: {reason}") from None
    from ml_metadata.metadata_store import metadata_store

    try:
        metadata_store.MetadataStore(config)
    except Exception as error:  # ml_metadata raises its own errors (and RuntimeError) here
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise MetadataStoreError(f"ML Metadata's {describe(config)} cannot be opened: {first}") from None


def apply(pipeline, config: metadata_store_pb2.ConnectionConfig):
    """``pipeline`` (a TFX ``Pipeline``) recording into ``config`` instead of the factory's SQLite file."""
    pipeline.metadata_connection_config = config
    return pipeline

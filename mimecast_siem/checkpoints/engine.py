"""Building the SQLAlchemy engine for a state URL, and turning driver errors into ours.

SQLite: WAL journal (readers never block the writer), a busy timeout so a second process waits for
the lock instead of failing, ``BEGIN IMMEDIATE`` for every transaction so two writers never deadlock
upgrading read locks, foreign keys on. PostgreSQL: psycopg 3, a pre-ping so a restarted server is
survived, a small pool (the store drives one connection from one worker thread).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)

from mimecast_siem.errors import ConfigError, ConfigProblem

from .errors import StateStoreError, StateStoreUnavailable

#: How long a SQLite writer waits for another process's lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 30.0
#: How long connecting to PostgreSQL may take before the store reports it unreachable.
POSTGRES_CONNECT_TIMEOUT_S = 10

SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def parse_state_url(url: str | URL) -> URL:
    """Parse and check a state URL; PostgreSQL always gets the psycopg 3 driver, SQLite the stdlib one.

    Raises:
        ConfigError: the URL is malformed or names a database we do not support (key ``state.url``).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "The state database URL is not valid.",
            [
                ConfigProblem(
                    key="state.url",
                    message="not a valid SQLAlchemy URL; use sqlite:///path/state.db or "
                    "postgresql+psycopg://user@host:5432/db",
                )
            ],
        ) from None
    if "@" in (parsed.host or "") or any("@" in f"{k}={v}" for k, v in parsed.query.items()):
        # An unescaped "@" or "?" in the password moves the rest of it into the host name or the
        # query, and from there into every connection error and masked URL: refuse it unshown.
        raise ConfigError(
            "The state database URL has an unescaped character in its user name or password.",
            [
                ConfigProblem(
                    key="state.url",
                    message="the password contains an unescaped '@' or '?'; percent-encode it (%40, %3F)",
                )
            ],
        )
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"The state database {backend!r} is not supported.",
            [
                ConfigProblem(
                    key="state.url",
                    message=f"unsupported database; allowed: {', '.join(SUPPORTED_BACKENDS)}",
                    value=display_url(parsed),
                )
            ],
        )
    # The store drives a synchronous engine: pick the sync driver whatever the URL named.
    if backend == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and parsed.get_driver_name() != "pysqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    return parsed


def display_url(url: URL) -> str:
    """The URL with its password masked: safe for logs and error messages."""
    return url.render_as_string(hide_password=True)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def create_state_engine(url: URL) -> Engine:
    """Create the engine for a URL checked by :func:`parse_state_url`."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(
        url,
        pool_size=1,
        max_overflow=1,
        pool_pre_ping=True,
        pool_recycle=1800,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        connect_args={
            "connect_timeout": POSTGRES_CONNECT_TIMEOUT_S,
            "application_name": "mimecast-siem",
            # No server-side prepared statements: safe behind PgBouncer in transaction mode, and no
            # switch to a generic plan after five executions.
            "prepare_threshold": None,
        },
    )


def _sqlite_engine(url: URL) -> Engine:
    database = url.database
    in_memory = not database or database == ":memory:" or url.query.get("mode") == "memory"
    if not in_memory and database:
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                "The state database directory cannot be created.",
                [
                    ConfigProblem(
                        key="state.url",
                        message=f"cannot create the directory of the SQLite file ({exc.strerror}); "
                        "set data_dir or state.url to a writable place",
                        value=str(Path(database).parent),
                    )
                ],
            ) from None
    engine = create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN (the driver's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                _use_wal(cursor)
                # WAL + NORMAL survives a process crash; a power cut may lose the last commit, which
                # re-delivers one window (the safe direction for an at-least-once pipeline).
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _use_wal(cursor: Any) -> None:
    """Switch the database to WAL, waiting up to the busy timeout for the lock that needs.

    SQLite answers "database is locked" at once, without its busy handler, when another connection
    holds the file while the journal mode changes: several processes opening a new state file together
    (a daemon and a CLI command, replicas on one volume) failed about one time in twenty. Only the
    first open of a file switches; every later one finds WAL already (the mode is stored in the file).
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    pause = 0.005
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


def translate_error(exc: SQLAlchemyError, where: str) -> StateStoreError:
    """Map a SQLAlchemy/driver error to a store error with a short message and no statement parameters.

    Args:
        exc: the error raised by SQLAlchemy.
        where: the masked URL (``display_url``) or backend name, for the message.
    """
    orig = getattr(exc, "orig", None) or exc
    first_line = (str(orig).strip().splitlines() or [type(orig).__name__])[0][:300]
    detail = f"{type(orig).__name__}: {first_line}"
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        return StateStoreUnavailable(f"The state store at {where} is unavailable ({detail}); will retry.")
    return StateStoreError(f"The state store at {where} rejected an operation ({detail}).")

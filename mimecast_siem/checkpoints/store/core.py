"""The core of the state store: engine, worker thread, life cycle and the one-transaction runner.

Every public method of the store is a coroutine that runs one transaction on a private single worker
thread. One thread serialises this process's access (SQLite allows one writer anyway) and keeps
blocking database calls off the event loop; the operations themselves live in small synchronous
modules of the room (:mod:`mimecast_siem.checkpoints.checkpointing`, ``leasing``, ``backfill``,
``audit`` ...) that take a connection and the transaction's clock reading.

Clock: lease expiry is compared with the database's clock on PostgreSQL (``now()`` of the
transaction), so replicas with skewed host clocks still agree; on SQLite the host's UTC clock is the
database clock. Tests may inject a clock.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import orjson
from sqlalchemy import Connection, Engine, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from mimecast_siem.checkpoints.engine import create_state_engine, display_url, parse_state_url, translate_error
from mimecast_siem.checkpoints.errors import StateStoreError
from mimecast_siem.checkpoints.migrations import MIGRATIONS, Migration, MigrationReport, migrate
from mimecast_siem.checkpoints.records import (
    require_name,
)
from mimecast_siem.checkpoints.sql import database_now

log = logging.getLogger("mimecast_siem.checkpoints")

T = TypeVar("T")
Key = tuple[str, str]


class StoreCore:
    """The engine, the worker thread, the life cycle and the one-transaction runner of the store.

    The per-concern parts (``store/<concern>.py``) build on it; :class:`~.StateStore` composes them.
    """

    def __init__(
        self, engine: Engine, url: URL, executor: ThreadPoolExecutor, clock: Callable[[], datetime] | None
    ) -> None:
        """Use :meth:`open`; this constructor assumes the schema is already migrated."""
        self._engine = engine
        self._where = display_url(url)
        self._backend = url.get_backend_name()
        self._executor = executor
        self._clock = clock
        self._closed = False
        self._checkpoint_lock = threading.Lock()
        self._checkpoint_cache: dict[Key, datetime] = {}
        self.schema: MigrationReport | None = None

    # --- life cycle ------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        url: str | URL,
        *,
        clock: Callable[[], datetime] | None = None,
        migrations: Sequence[Migration] = MIGRATIONS,
    ) -> Self:
        """Connect to ``url``, migrate the schema to the latest version, and return the store.

        Args:
            url: SQLAlchemy URL (``sqlite:///path`` or ``postgresql+psycopg://...``); a secret, never logged.
            clock: returns "now" (UTC-aware) instead of the database clock; for tests.
            migrations: the schema steps; for tests of the migration machinery.

        Raises:
            ConfigError: the URL is malformed or names an unsupported database (key ``state.url``).
            StateStoreUnavailable: the database cannot be reached.
            SchemaTooNew: the database was migrated by a newer release.
        """
        parsed = parse_state_url(url)
        engine = create_state_engine(parsed)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-store")
        store = cls(engine, parsed, executor, clock)
        try:
            store.schema = await store._submit(store._migrate, migrations)
        except BaseException:
            await store.close()
            raise
        log.info(
            "State store open at %s (schema version %d).",
            store._where,
            store.schema.to_version,
            extra={"backend": store._backend, "applied": list(store.schema.applied)},
        )
        return store

    async def close(self) -> None:
        """Dispose of the connections and stop the worker thread; later calls raise ``StateStoreError``."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._engine.dispose)
        self._executor.shutdown(wait=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._backend

    @property
    def display_url(self) -> str:
        """The database URL with its password masked."""
        return self._where

    async def ping(self) -> None:
        """Round-trip to the database (readiness); raises ``StateStoreUnavailable`` when it is down."""
        await self._run(lambda conn, _now: conn.execute(select(1)).scalar_one())

    async def now(self) -> datetime:
        """The store's clock (the database's on PostgreSQL); lease expiry is measured against it."""
        return await self._run(lambda _conn, now: now)

    def _migrate(self, migrations: Sequence[Migration]) -> MigrationReport:
        try:
            return migrate(self._engine, migrations)
        except SQLAlchemyError as exc:
            raise translate_error(exc, self._where) from exc

    def _transact(self, op: Callable[[Connection, datetime], T]) -> T:
        try:
            with self._engine.begin() as conn:
                now = self._clock() if self._clock is not None else database_now(conn)
                return op(conn, now)
        except SQLAlchemyError as exc:
            raise translate_error(exc, self._where) from exc

    async def _run(self, op: Callable[[Connection, datetime], T]) -> T:
        return await self._submit(self._transact, op)

    async def _submit(self, fn: Callable[[Any], T], arg: Any) -> T:
        if self._closed:
            raise StateStoreError("The state store is closed.")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, arg)


def _check_snapshot(snapshot: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse a snapshot that cannot be stored, before the commit starts (the message names the item)."""
    for item_id, item in snapshot.items():
        require_name("snapshot item id", item_id, 200)
        try:
            orjson.dumps(item)
        except TypeError as exc:
            raise ValueError(f"snapshot item {item_id!r} cannot be stored as JSON: {exc}") from None


def _key(tenant: str, stream: str, *, stream_length: int = 64) -> None:
    require_name("tenant", tenant)
    require_name("stream", stream, stream_length)

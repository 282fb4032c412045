"""The async engine and session factory, for SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_S = 30.0
"""How long a SQLite transaction waits for the write lock before failing."""
PING_AFTER_IDLE_S = 5.0
"""A PostgreSQL connection idle in the pool this long is pinged before it is used."""
SQLITE_QUEUE_TIMEOUT_S = 30.0
"""How long a SQLite transaction waits for its turn in this process before trying anyway."""


class Database:
    """Owns the connection pool; hands out sessions that commit or roll back as a unit."""

    def __init__(
        self, url: str, *, echo: bool = False, busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S
    ) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo}
        if url.startswith("sqlite"):
            # One writer at a time: wait for the lock instead of failing at once.
            kwargs["connect_args"] = {"timeout": busy_timeout_s}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if not url.startswith("sqlite"):
            event.listen(self.engine.sync_engine, "checkin", _note_checkin)
            event.listen(self.engine.sync_engine, "checkout", _ping_if_idle)
        if url.startswith("sqlite"):

            def pragmas(dbapi_connection: Any, _record: Any) -> None:
                _sqlite_pragmas(dbapi_connection, busy_timeout_s)

            event.listen(self.engine.sync_engine, "connect", pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._sqlite = url.startswith("sqlite")
        self._writer: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self._turn_to_write(), self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def _turn_to_write(self) -> AsyncIterator[None]:
        """SQLite: this process's transactions take turns in a queue of their own.

        Every SQLite transaction holds the database's one write lock (``BEGIN IMMEDIATE``)
        anyway; without the queue, the ones waiting for it sleep in SQLite's busy handler
        (up to 100 ms a try) and a commit is not followed at once by the next transaction,
        which cost the busy bot seconds of p99. Other processes (``helpdesk chat`` beside
        ``helpdesk run``) still wait in the busy handler; after the busy timeout a
        transaction goes on without its turn and SQLite decides, as it did before.
        """
        if not self._sqlite:
            yield
            return
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer[0] is not loop:
            self._writer = (loop, asyncio.Lock())  # a lock serves one event loop
        lock = self._writer[1]
        try:
            async with asyncio.timeout(SQLITE_QUEUE_TIMEOUT_S):
                await lock.acquire()
        except TimeoutError:
            yield
            return
        try:
            yield
        finally:
            lock.release()

    async def dispose(self) -> None:
        await self.engine.dispose()


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Ping a pooled connection that sat idle a while before handing it out.

    A server restart or an idle timeout kills the connections waiting in the pool;
    one used a moment ago is almost surely alive, and pinging it too (SQLAlchemy's
    ``pool_pre_ping``) cost a round trip per transaction, five per customer turn. If
    one has died all the same, its query fails as a database outage does (the turn is
    redelivered or recovered) and SQLAlchemy renews the whole pool.
    """
    checked_in_at = record.info.get("checked_in_at")
    if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_S:
        return  # just opened, or used a moment ago
    try:
        dbapi_connection.ping()
    except Exception as exc:
        raise DisconnectionError(f"pooled connection is dead: {exc}") from exc  # pool retries


def _sqlite_pragmas(dbapi_connection: Any, busy_timeout_s: float) -> None:
    # The sqlite3 module's own transaction handling breaks SAVEPOINTs; we emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets the web console read while the engine writes; FKs are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout_s * 1000)}")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: two turns that read then write would
    # otherwise deadlock on the upgrade and one would fail instead of waiting.
    connection.exec_driver_sql("BEGIN IMMEDIATE")

"""Named locks shared by every worker: PostgreSQL session-level advisory locks.

Each worker keeps **one** dedicated connection and takes every lock it holds on it
(``pg_try_advisory_lock``), so a thousand conversations in flight cost one connection,
not a thousand. A lock lives as long as the session that took it: when a worker dies,
even by ``kill -9``, PostgreSQL ends its session as the socket closes and every lock
it held is free at once. That is what lets another worker pick up a dead worker's
conversations within seconds (``bot.engine.pipeline``'s orphan sweep) without leases
to expire.

Waiting is polling: a busy lock is tried again after a short, growing pause (20 ms up
to 200 ms). Blocking ``pg_advisory_lock`` would pin a connection per waiter; the waits
are rare and short, because a worker's own turns of one conversation already queue in
process (``bot.engine.locks``) before they ask here, so only turns of one conversation on
two workers at once ever poll.

If the lock connection itself breaks (the database restarts, a network cut), every lock
this worker held is gone. Holders cannot be told mid-turn; what they do next is still
checked by the database (a message is answered once: its turn reads and writes it under a
row lock), and the next lock taken opens a new connection. The leader checks its
connection before each once-per-cluster run (:meth:`ClusterLocks.alive`), so it stops
leading once its lock is gone.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]  # no stubs; the calls used are few

log = logging.getLogger(__name__)

FIRST_WAIT_S = 0.02
LONGEST_WAIT_S = 0.2


def lock_id(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (advisory locks are keyed by ``bigint``)."""
    digest = hashlib.blake2b(f"helpdesk:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def asyncpg_dsn(url: str) -> str:
    """SQLAlchemy's ``postgresql+asyncpg://`` URL as the plain DSN asyncpg takes."""
    for prefix in ("postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


class LockLost(RuntimeError):
    """The lock connection broke while this lock was held."""


class ClusterLocks:
    """Advisory locks on one connection of this worker; safe to share between tasks."""

    def __init__(self, url: str) -> None:
        self._dsn = asyncpg_dsn(url)
        self._connection: Any = None  # asyncpg.Connection
        self._use = asyncio.Lock()  # one query at a time on the connection
        self._held: set[str] = set()

    async def try_take(self, name: str) -> bool:
        """Take ``name`` if no one holds it; never waits."""
        if name in self._held:
            # Session locks nest in PostgreSQL: taking one twice would "succeed" and
            # hide a bug in the caller's own ordering.
            raise RuntimeError(f"lock {name!r} is already held by this worker")
        taken = bool(await self._query("SELECT pg_try_advisory_lock($1)", lock_id(name)))
        if taken:
            self._held.add(name)
        return taken

    async def release(self, name: str) -> None:
        if name not in self._held:
            return
        self._held.discard(name)
        try:
            await self._query("SELECT pg_advisory_unlock($1)", lock_id(name))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            # The connection is gone, and with it the lock.
            log.warning("could not release lock %s: the lock connection broke", name)

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        """Wait for ``name``, hold it for the block, then let it go."""
        wait = FIRST_WAIT_S
        while not await self.try_take(name):
            await asyncio.sleep(wait)
            wait = min(wait * 2, LONGEST_WAIT_S)
        try:
            yield
        finally:
            await self.release(name)

    @asynccontextmanager
    async def try_hold(self, name: str) -> AsyncIterator[bool]:
        """Hold ``name`` for the block if it is free; the block learns which (``as taken``)."""
        taken = await self.try_take(name)
        try:
            yield taken
        finally:
            if taken:
                await self.release(name)

    def holds(self, name: str) -> bool:
        return name in self._held

    async def alive(self) -> bool:
        """Whether the lock connection still answers (its locks are still ours)."""
        try:
            await self._query("SELECT 1")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        return True

    async def close(self) -> None:
        async with self._use:
            connection, self._connection = self._connection, None
            self._held.clear()
            if connection is not None and not connection.is_closed():
                await connection.close()  # ends the session: every lock goes with it

    async def _query(self, sql: str, *args: object) -> object:
        async with self._use:
            if self._connection is None or self._connection.is_closed():
                if self._connection is not None:
                    lost = sorted(self._held)
                    self._held.clear()
                    if lost:
                        log.error("the lock connection broke; locks lost: %s", ", ".join(lost))
                self._connection = await asyncpg.connect(self._dsn)
            try:
                return await self._connection.fetchval(sql, *args)
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError):
                self._connection.terminate()  # reconnect on the next query
                raise


class SoloLocks:
    """One worker alone (``cluster.enabled`` off): nobody else to exclude."""

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        yield

    @asynccontextmanager
    async def try_hold(self, name: str) -> AsyncIterator[bool]:
        yield True

    async def close(self) -> None:
        return None


class SharedLocks(Protocol):
    """What the engine needs of the cluster's locks: :class:`ClusterLocks` or
    :class:`SoloLocks`."""

    def hold(self, name: str) -> AbstractAsyncContextManager[None]: ...

    def try_hold(self, name: str) -> AbstractAsyncContextManager[bool]: ...

    async def close(self) -> None: ...

"""A turn that crashes fails alone: its message is marked failed, logged and counted.

A customer message is stored before its turn runs, and recovery at start-up answers
what was stored but not finished. A message whose turn crashes on a bug (or on input
no column holds) would crash again at every start, blocking the messages after it and
the start itself; so it is marked ``failed`` with its error instead, and the rest go
on. An outage of the database is not the message's fault: that message stays stored
and unanswered, for the next recovery.
"""

from __future__ import annotations

import logging
from typing import Protocol

from sqlalchemy import exc as db_errors

from bot.storage.database import Database
from bot.storage.repositories import MessageRepository

log = logging.getLogger(__name__)

TRANSIENT: tuple[type[BaseException], ...] = (
    db_errors.OperationalError,  # connection lost, database locked, server shutting down
    db_errors.InterfaceError,
    db_errors.DisconnectionError,
    db_errors.TimeoutError,  # no connection from the pool
    OSError,
    TimeoutError,
)
"""Failures of the machinery rather than of the message: try it again later."""


class FailedTurns(Protocol):
    """Where failed turns are counted (``bot.reports.metrics.FailedTurnCounter``)."""

    def failed(self, channel: str) -> None: ...


def is_transient(error: BaseException) -> bool:
    return isinstance(error, TRANSIENT)


async def fail_message(
    db: Database,
    message_id: int,
    channel: str,
    error: Exception,
    *,
    counter: FailedTurns | None,
) -> None:
    """Mark the message failed with its error (stored), log it and count it."""
    reason = f"{type(error).__name__}: {error}"
    log.error("turn of %s message %d failed: %s", channel, message_id, reason, exc_info=error)
    if counter is not None:
        counter.failed(channel)
    try:
        async with db.transaction() as session:
            await MessageRepository(session).mark_failed(message_id, error=reason)
    except Exception:  # the database itself is failing: recovery meets the message again
        log.exception("could not mark %s message %d failed", channel, message_id)

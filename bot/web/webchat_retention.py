"""How long the web chat's uploaded files are kept (``channels.webchat.uploads``).

A file uploaded but never sent in a message (the customer closed the tab, or a script
filled the hourly allowance) is no one's business after a day: it is deleted after
``unsent_hours``. Sent files are kept as long as the conversation unless ``keep_days``
is set; then they go too, and the messages that named them keep only the name and kind.
The job runs on one worker of a cluster (the leader), every :data:`SWEEP_EVERY_S`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.storage.attachment_files import AttachmentFileStore
from bot.storage.database import Database
from bot.storage.models import utcnow

log = logging.getLogger(__name__)

SWEEP_EVERY_S = 600.0
"""Often enough that an unsent file outlives its ``unsent_hours`` by minutes at most."""

BATCH_FILES = 50
"""Files deleted per transaction (each up to the upload limit, 10 MiB by default)."""


@dataclass(frozen=True, slots=True)
class UploadRetention:
    """``unsent_hours`` for uploads no message names; ``keep_days`` (``None``: for ever)
    for every upload."""

    unsent_hours: float = 24.0
    keep_days: float | None = None


class UploadSweeper:
    """Deletes the uploads :class:`UploadRetention` says are past keeping."""

    def __init__(
        self,
        db: Database,
        retention: UploadRetention,
        *,
        now: Callable[[], datetime] = utcnow,
        batch: int = BATCH_FILES,
    ) -> None:
        self.db = db
        self.retention = retention
        self.now = now
        self.batch = batch

    async def sweep(self) -> int:
        """One pass; the number of files deleted."""
        now = self.now()
        deleted = await self._in_batches(
            lambda store: store.delete_unsent(
                before=now - timedelta(hours=self.retention.unsent_hours), limit=self.batch
            )
        )
        if self.retention.keep_days is not None:
            keep = timedelta(days=self.retention.keep_days)
            deleted += await self._in_batches(
                lambda store: store.delete_older(before=now - keep, limit=self.batch)
            )
        if deleted:
            log.info("deleted %d web chat uploads past keeping", deleted)
        return deleted

    async def _in_batches(self, step: Callable[[AttachmentFileStore], Awaitable[int]]) -> int:
        # One transaction per batch: a first sweep after keep_days is switched on may find
        # thousands of files of up to 10 MiB, and one transaction for all of them would
        # hold its locks and its whole undo for the length of the purge.
        total = 0
        while True:
            async with self.db.transaction() as session:
                deleted = await step(AttachmentFileStore(session))
            total += deleted
            if deleted < self.batch:
                return total

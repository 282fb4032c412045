"""The web chat's uploads in the database, on SQLite and PostgreSQL: the hourly limit
holds for two workers (two connection pools) uploading into one chat at once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.storage.attachment_files import AttachmentFileStore
from bot.storage.database import Database
from bot.storage.models import AttachmentFile, utcnow

pytestmark = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)

LIMIT = 3


async def test_two_workers_racing_at_the_limit_keep_exactly_the_limit(db: Database) -> None:
    other_worker = Database(db.url)  # its own pool, as another process's would be
    since = utcnow() - timedelta(hours=1)

    async def upload(worker: Database, n: int) -> AttachmentFile | None:
        async with worker.transaction() as session:
            return await AttachmentFileStore(session).add_within(
                channel="webchat",
                conversation_key="raced-session",
                since=since,
                limit=LIMIT,
                file_name=f"photo-{n}.png",
                mime_type="image/png",
                data=b"\x89PNG" + bytes([n]),
            )

    try:
        kept = await asyncio.gather(
            *(upload(db if n % 2 else other_worker, n) for n in range(4 * LIMIT))
        )
        # Another chat has its own allowance.
        async with db.transaction() as session:
            elsewhere = await AttachmentFileStore(session).add_within(
                channel="webchat",
                conversation_key="another-session",
                since=since,
                limit=LIMIT,
                file_name="x.png",
                mime_type="image/png",
                data=b"\x89PNG",
            )
    finally:
        await other_worker.dispose()
    assert sum(row is not None for row in kept) == LIMIT
    assert elsewhere is not None
    async with db.transaction() as session:
        counted = await AttachmentFileStore(session).count_since(
            channel="webchat", conversation_key="raced-session", since=since
        )
    assert counted == LIMIT

"""The web chat's uploads past keeping, on SQLite and PostgreSQL: never-sent ones after
``unsent_hours``, every one after ``keep_days`` when set; the job ``helpdesk run`` wires
once per cluster. Rows are backdated; the sweeper's clock is the test's."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select, update

from bot.app import build_helpdesk, build_web_app
from bot.channels import Channel
from bot.channels.webchat import WebChatChannel
from bot.settings import Secrets
from bot.storage.attachment_files import AttachmentFileStore
from bot.storage.database import Database
from bot.storage.models import Attachment, AttachmentFile, utcnow
from bot.storage.repositories import ConversationRepository, MessageRepository
from bot.web.console.views import _attachment
from bot.web.webchat_retention import SWEEP_EVERY_S, UploadRetention, UploadSweeper
from tests.conftest import TEST_KB, project_settings

pytestmark = pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=utcnow().tzinfo)


async def uploaded(db: Database, name: str, *, age: timedelta, sent: bool) -> str:
    """An upload made ``age`` before :data:`NOW`; ``sent``: a message names it."""
    async with db.transaction() as session:
        row = await AttachmentFileStore(session).add(
            channel="webchat",
            conversation_key="kept-session",
            file_name=name,
            mime_type="image/png",
            data=b"\x89PNG" + name.encode(),
        )
        await session.execute(
            update(AttachmentFile).where(AttachmentFile.id == row.id).values(created_at=NOW - age)
        )
        if sent:
            conversation = await ConversationRepository(session).get_or_create(
                channel="webchat", conversation_key="kept-session", user_id="u", user_name=None
            )
            messages = MessageRepository(session)
            message = await messages.add_inbound(
                conversation=conversation, text="", payload=None, platform_message_id=name
            )
            assert message is not None
            await messages.add_attachment(
                message=message,
                kind="photo",
                platform_file_id=row.id,
                file_name=name,
                mime_type="image/png",
                size_bytes=row.size_bytes,
                details={"stored": True},
            )
    return row.id


async def kept_names(db: Database) -> set[str]:
    async with db.transaction() as session:
        return set(await session.scalars(select(AttachmentFile.file_name)))


async def test_uploads_never_sent_go_after_a_day_sent_ones_stay(db: Database) -> None:
    await uploaded(db, "abandoned.png", age=timedelta(hours=25), sent=False)
    await uploaded(db, "just-now.png", age=timedelta(hours=23), sent=False)
    await uploaded(db, "sent-long-ago.png", age=timedelta(days=400), sent=True)
    sweeper = UploadSweeper(db, UploadRetention(unsent_hours=24), now=lambda: NOW)

    assert await sweeper.sweep() == 1
    assert await kept_names(db) == {"just-now.png", "sent-long-ago.png"}
    assert await sweeper.sweep() == 0


async def test_keep_days_removes_old_files_and_their_links_not_the_messages(
    db: Database,
) -> None:
    old = await uploaded(db, "old.png", age=timedelta(days=31), sent=True)
    recent = await uploaded(db, "recent.png", age=timedelta(days=2), sent=True)
    sweeper = UploadSweeper(db, UploadRetention(unsent_hours=24, keep_days=30), now=lambda: NOW)

    assert await sweeper.sweep() == 1
    assert await kept_names(db) == {"recent.png"}
    async with db.transaction() as session:
        shown = {a.file_name: _attachment(a) for a in await session.scalars(select(Attachment))}
    # The message still says a photo was sent, by name; nothing left to open.
    assert shown["old.png"]["url"] is None and shown["old.png"]["name"] == "old.png"
    assert shown["recent.png"]["url"] == f"/console/files/{recent}"
    assert old not in str(shown)


async def test_a_big_purge_goes_in_batches_of_its_own_transactions(db: Database) -> None:
    for n in range(5):
        await uploaded(db, f"abandoned-{n}.png", age=timedelta(hours=30 + n), sent=False)
    for n in range(3):
        await uploaded(db, f"old-{n}.png", age=timedelta(days=40 + n), sent=True)
    await uploaded(db, "recent.png", age=timedelta(days=1), sent=True)
    deletes: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM ATTACHMENT_FILES"):
            deletes.append(statement)

    sweeper = UploadSweeper(
        db, UploadRetention(unsent_hours=24, keep_days=30), now=lambda: NOW, batch=2
    )
    event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
    try:
        assert await sweeper.sweep() == 8
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
    assert await kept_names(db) == {"recent.png"}
    # 5 unsent files in batches of 2 (2, 2, 1), then 3 old ones (2, 1): one DELETE each.
    assert len(deletes) == 5
    async with db.transaction() as session:
        links = {a.file_name: a.platform_file_id for a in await session.scalars(select(Attachment))}
    assert [links[f"old-{n}.png"] for n in range(3)] == [None, None, None]
    assert links["recent.png"] is not None


async def test_helpdesk_run_sweeps_uploads_once_per_cluster_with_the_settings(
    db: Database,
) -> None:
    settings = project_settings()
    webchat = settings.channels.webchat
    settings = settings.model_copy(
        update={
            "nlu": settings.nlu.model_copy(update={"url": "http://127.0.0.1:9"}),
            "database": settings.database.model_copy(update={"url": db.url}),
            "knowledge_base": settings.knowledge_base.model_copy(update={"path": TEST_KB}),
            "channels": settings.channels.model_copy(
                update={
                    "webchat": webchat.model_copy(
                        update={"uploads": webchat.uploads.model_copy(update={"unsent_hours": 2})}
                    )
                }
            ),
        }
    )
    channels: list[Channel] = [WebChatChannel()]
    helpdesk = build_helpdesk(settings, Secrets.model_validate({}), channels=channels, model=None)
    try:
        build_web_app(helpdesk, channels, progress=lambda _: None)
        job = next(job for job in helpdesk.tasks._jobs if job.name == "webchat-uploads")
        assert job.once_per_cluster and job.every_s == SWEEP_EVERY_S
        now = utcnow()
        async with db.transaction() as session:
            store = AttachmentFileStore(session)
            for name, age in (("three-hours.png", 3), ("one-hour.png", 1)):
                row = await store.add(
                    channel="webchat",
                    conversation_key="s",
                    file_name=name,
                    mime_type="image/png",
                    data=b"x",
                )
                await session.execute(
                    update(AttachmentFile)
                    .where(AttachmentFile.id == row.id)
                    .values(created_at=now - timedelta(hours=age))
                )
        assert await job.run() == 1
        assert await kept_names(db) == {"one-hour.png"}
    finally:
        await helpdesk.db.dispose()

"""Queries on the files customers upload (``attachment_files``)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import ColumnElement, delete, exists, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from bot.storage.models import Attachment, AttachmentFile

UPLOAD_LOCKS = 0x55504C44
"""The first key of the per-chat upload locks (``pg_advisory_xact_lock(int, int)``); the
two-key space never meets the cluster's one-key locks (bot.cluster.locks)."""


class AttachmentFileStore:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        *,
        channel: str,
        conversation_key: str,
        file_name: str,
        mime_type: str,
        data: bytes,
    ) -> AttachmentFile:
        """Keep the bytes under a fresh random id (192 bits: not guessable, not a path)."""
        row = AttachmentFile(
            id=secrets.token_urlsafe(24),
            channel=channel,
            conversation_key=conversation_key,
            file_name=file_name,
            mime_type=mime_type,
            size_bytes=len(data),
            data=data,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def add_within(
        self,
        *,
        channel: str,
        conversation_key: str,
        since: datetime,
        limit: int,
        file_name: str,
        mime_type: str,
        data: bytes,
    ) -> AttachmentFile | None:
        """Keep the file unless this chat already has ``limit`` uploads since ``since``:
        ``None`` then. Counted and inserted as one step for every worker: PostgreSQL holds
        a lock on this chat's uploads until the transaction ends; SQLite transactions hold
        the database's one write lock from their start (``BEGIN IMMEDIATE``), so the count
        cannot go stale before the insert either."""
        if self.session.get_bind().dialect.name == "postgresql":
            await self.session.execute(
                text("SELECT pg_advisory_xact_lock(:space, hashtext(:chat))"),
                {"space": UPLOAD_LOCKS, "chat": f"{channel}:{conversation_key}"},
            )
        recent = await self.count_since(
            channel=channel, conversation_key=conversation_key, since=since
        )
        if recent >= limit:
            return None
        return await self.add(
            channel=channel,
            conversation_key=conversation_key,
            file_name=file_name,
            mime_type=mime_type,
            data=data,
        )

    async def delete_unsent(self, *, before: datetime, limit: int) -> int:
        """Drop up to ``limit`` of the uploads made before ``before`` that no message names
        (uploaded, never sent), oldest first; how many went."""
        named = exists().where(Attachment.platform_file_id == AttachmentFile.id)
        return await self._delete(
            await self._oldest(limit, AttachmentFile.created_at < before, ~named)
        )

    async def delete_older(self, *, before: datetime, limit: int) -> int:
        """Drop up to ``limit`` of the uploads made before ``before``, sent or not, oldest
        first; the messages that named one keep its name and kind but no longer link to it
        (nothing left to open). How many went."""
        ids = await self._oldest(limit, AttachmentFile.created_at < before)
        if ids:
            await self.session.execute(
                update(Attachment)
                .where(Attachment.platform_file_id.in_(ids))
                .values(platform_file_id=None),
                execution_options={"synchronize_session": False},
            )
        return await self._delete(ids)

    async def _oldest(self, limit: int, *conditions: ColumnElement[bool]) -> list[str]:
        stmt = (
            select(AttachmentFile.id)
            .where(*conditions)
            .order_by(AttachmentFile.created_at, AttachmentFile.id)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())

    async def _delete(self, ids: list[str]) -> int:
        if not ids:
            return 0
        stmt = delete(AttachmentFile).where(AttachmentFile.id.in_(ids))
        result = await self.session.execute(stmt, execution_options={"synchronize_session": False})
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def count_since(self, *, channel: str, conversation_key: str, since: datetime) -> int:
        stmt = select(func.count(AttachmentFile.id)).where(
            AttachmentFile.channel == channel,
            AttachmentFile.conversation_key == conversation_key,
            AttachmentFile.created_at >= since,
        )
        return int(await self.session.scalar(stmt) or 0)

    async def owned(
        self, file_id: str, *, channel: str, conversation_key: str
    ) -> AttachmentFile | None:
        """The upload ``file_id`` if this session made it (without its bytes)."""
        stmt = (
            select(AttachmentFile)
            .options(defer(AttachmentFile.data))
            .where(
                AttachmentFile.id == file_id,
                AttachmentFile.channel == channel,
                AttachmentFile.conversation_key == conversation_key,
            )
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def get(self, file_id: str) -> AttachmentFile | None:
        """The upload with its bytes, for an agent to look at."""
        return await self.session.get(AttachmentFile, file_id)

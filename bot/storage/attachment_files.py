"""Queries on the files customers upload (``attachment_files``)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from bot.storage.models import AttachmentFile


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

"""Queries on link codes: a verified customer's one-time codes for joining another account.

Only a code's SHA-256 is stored, so the table alone links nobody. Using a code is one
conditional UPDATE: of two workers (or two people) redeeming the same code at once,
exactly one sees its row change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import LinkCode


class LinkCodeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, *, customer_id: int, channel: str, code_hash: str, now: datetime, expires_at: datetime
    ) -> LinkCode:
        code = LinkCode(
            customer_id=customer_id,
            channel=channel,
            code_hash=code_hash,
            created_at=now,
            expires_at=expires_at,
        )
        self.session.add(code)
        await self.session.flush()
        return code

    async def find(self, code_hash: str) -> LinkCode | None:
        stmt = select(LinkCode).where(LinkCode.code_hash == code_hash)
        return (await self.session.scalars(stmt)).one_or_none()

    async def use(self, code: LinkCode, *, now: datetime, used_by: str) -> bool:
        """Mark the code used by ``used_by``; False when it was used or expired first."""
        stmt = (
            update(LinkCode)
            .where(LinkCode.id == code.id, LinkCode.used_at.is_(None), LinkCode.expires_at > now)
            .values(used_at=now, used_by=used_by[:200])
            .execution_options(synchronize_session=False)
        )
        result = cast(CursorResult[Any], await self.session.execute(stmt))
        return result.rowcount == 1

"""REST API tokens: random, shown once, stored as SHA-256 (a leaked table grants nothing)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import ApiToken, utcnow

TOKEN_PREFIX = "hd_"


def token_hash(token: str) -> str:
    # A random 256-bit token needs no slow hash: SHA-256 cannot be brute-forced back.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, name: str) -> tuple[str, ApiToken]:
        """A new token named ``name``; returns the token itself (never stored) and its row."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = ApiToken(name=name, token_hash=token_hash(token), prefix=token[:10])
        self.session.add(row)
        await self.session.flush()
        return token, row

    async def list(self) -> Sequence[ApiToken]:
        return (await self.session.scalars(select(ApiToken).order_by(ApiToken.id))).all()

    async def find(self, name: str) -> ApiToken | None:
        stmt = select(ApiToken).where(ApiToken.name == name)
        return (await self.session.scalars(stmt)).one_or_none()

    async def revoke(self, name: str, *, at: datetime | None = None) -> bool:
        row = await self.find(name)
        if row is None or row.revoked_at is not None:
            return False
        row.revoked_at = at or utcnow()
        return True

    async def verify(self, token: str) -> ApiToken | None:
        """The live token row for this token, or None (unknown or revoked)."""
        stmt = select(ApiToken).where(ApiToken.token_hash == token_hash(token))
        row = (await self.session.scalars(stmt)).one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        return row

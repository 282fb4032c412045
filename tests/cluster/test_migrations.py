"""Several workers starting together on one empty PostgreSQL all migrate it, once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.storage.migrate import current_head, upgrade_async


async def _admin(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(sql))
    await engine.dispose()


@pytest.fixture
async def empty_database(pg_url: str) -> AsyncIterator[str]:
    name = f"helpdesk_migrate_{uuid.uuid4().hex[:10]}"
    await _admin(pg_url, f'CREATE DATABASE "{name}"')
    yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    await _admin(pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_three_workers_migrating_one_empty_database_at_once_all_succeed(
    empty_database: str,
) -> None:
    await asyncio.gather(*(upgrade_async(empty_database) for _ in range(3)))
    engine = create_async_engine(empty_database)
    async with engine.connect() as connection:
        versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    await engine.dispose()
    assert [row[0] for row in versions] == [current_head()]

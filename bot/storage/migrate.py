"""Run Alembic migrations programmatically (``helpdesk db upgrade``, and at start-up)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config

from bot.storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # '%' would be read as interpolation by configparser (URL-encoded passwords).
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Migrate; on PostgreSQL one process at a time (several workers start together with
    ``database.auto_migrate``: the first migrates, the others wait and find it done)."""
    if not url.startswith("postgresql"):
        # env.py runs its own event loop, so migrations run in a worker thread.
        await asyncio.to_thread(upgrade, url, revision)
        return
    from bot.cluster.locks import ClusterLocks

    locks = ClusterLocks(url)
    try:
        async with locks.hold("migrations"):
            await asyncio.to_thread(upgrade, url, revision)
    finally:
        await locks.close()


@asynccontextmanager
async def open_database(url: str, *, migrate: bool) -> AsyncIterator[Database]:
    """A database for one command (``helpdesk agent``, ``helpdesk token``), migrated first
    when ``database.auto_migrate`` says so, and closed after."""
    if migrate:
        await upgrade_async(url)
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()


def current_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()

"""``helpdesk token add|list|revoke`` as an admin runs them: a real process and database;
the token printed once works against the API, is stored only hashed, and revocation ends it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from bot.storage.api_tokens import ApiTokenRepository, token_hash
from bot.storage.database import Database
from bot.storage.models import ApiToken
from tests.conftest import ROOT


def helpdesk(args: list[str], db_file: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{db_file}"}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_token_add_list_revoke(tmp_path: Path) -> None:
    db_file = tmp_path / "helpdesk.db"
    added = helpdesk(["token", "add", "crm"], db_file)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    assert token.startswith("hd_") and len(token) > 40
    assert "shown once" in added.stderr
    again = helpdesk(["token", "add", "crm"], db_file)
    assert again.returncode == 1 and "exists" in again.stderr

    db = Database(f"sqlite+aiosqlite:///{db_file}")
    try:
        async with db.transaction() as session:
            (row,) = (await session.scalars(select(ApiToken))).all()
            assert row.token_hash == token_hash(token) and token not in row.token_hash
            assert await ApiTokenRepository(session).verify(token) is not None

        listed = helpdesk(["token", "list"], db_file)
        assert listed.returncode == 0
        assert listed.stdout.startswith("crm\thd_") and "\tlive\t" in listed.stdout
        assert token not in listed.stdout  # never the token itself

        revoked = helpdesk(["token", "revoke", "crm"], db_file)
        assert revoked.returncode == 0 and revoked.stdout.strip() == "revoked crm"
        assert helpdesk(["token", "revoke", "crm"], db_file).returncode == 1
        assert "revoked" in helpdesk(["token", "list"], db_file).stdout
        async with db.transaction() as session:
            assert await ApiTokenRepository(session).verify(token) is None
    finally:
        await db.dispose()

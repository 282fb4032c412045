"""``helpdesk agent add|password|list`` as an admin runs them: a real process and database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx

from bot.desk.policy import SystemClock
from bot.nlu.rasa_server import free_port
from bot.storage.database import Database
from bot.storage.repositories import AgentRepository
from bot.web.console.auth import LoginFailed, Sessions
from tests.conftest import ROOT
from tests.support.console import AgentClient
from tests.support.waiting import wait_until

SECRET = "s3cret-horse-battery"


def helpdesk(
    args: list[str], db_file: Path, *, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        **{k: v for k, v in os.environ.items() if k != "HELPDESK_AGENT_PASSWORD"},
        "DATABASE_URL": f"sqlite:///{db_file}",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def can_log_in(db_file: Path, name: str, password: str) -> bool:
    db = Database(f"sqlite+aiosqlite:///{db_file}")
    sessions = Sessions(db=db, secret_key="k", lifetime=timedelta(hours=1), clock=SystemClock())
    try:
        await sessions.login(name, password, client="cli-test")
        return True
    except LoginFailed:
        return False
    finally:
        await db.dispose()


async def test_add_an_agent_with_a_password_from_stdin(tmp_path: Path) -> None:
    db_file = tmp_path / "desk.db"
    added = helpdesk(
        ["agent", "add", "priya", "--languages", "gu,en", "--role", "admin", "--password-stdin"],
        db_file,
        stdin=SECRET + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added admin priya (gu,en, up to 3 chats)"
    assert SECRET not in added.stdout + added.stderr  # never echoed
    db = Database(f"sqlite+aiosqlite:///{db_file}")
    async with db.transaction() as session:
        agent = await AgentRepository(session).find("priya")
    await db.dispose()
    assert agent is not None and agent.role == "admin"
    assert agent.password_hash is not None and agent.password_hash.startswith("$argon2id$")
    assert SECRET not in agent.password_hash
    assert await can_log_in(db_file, "priya", SECRET)
    assert not await can_log_in(db_file, "priya", SECRET + "x")


async def test_password_from_the_environment_and_changing_it(tmp_path: Path) -> None:
    db_file = tmp_path / "desk.db"
    env = {"HELPDESK_AGENT_PASSWORD": SECRET}
    assert helpdesk(["agent", "add", "ravi"], db_file, env=env).returncode == 0
    assert await can_log_in(db_file, "ravi", SECRET)
    changed = helpdesk(
        ["agent", "password", "ravi", "--password-stdin"], db_file, stdin="another-long-one\n"
    )
    assert changed.returncode == 0 and "another-long-one" not in changed.stdout
    assert not await can_log_in(db_file, "ravi", SECRET)
    assert await can_log_in(db_file, "ravi", "another-long-one")


def test_bad_input_is_refused_with_a_reason(tmp_path: Path) -> None:
    db_file = tmp_path / "desk.db"
    short = helpdesk(["agent", "add", "asha", "--password-stdin"], db_file, stdin="short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    languages = helpdesk(["agent", "add", "asha", "--languages", "Gujarati"], db_file)
    assert languages.returncode == 1 and "ISO 639-1" in languages.stderr
    missing = helpdesk(["agent", "password", "ghost", "--password-stdin"], db_file, stdin=SECRET)
    assert missing.returncode == 1 and "no agent named 'ghost'" in missing.stderr


def test_an_agent_s_own_time_zone_is_checked_set_and_cleared(tmp_path: Path) -> None:
    db_file = tmp_path / "desk.db"
    bad = helpdesk(["agent", "add", "lena", "--timezone", "Berlin"], db_file)
    assert bad.returncode == 1 and "unknown time zone 'Berlin'" in bad.stderr
    added = helpdesk(["agent", "add", "lena", "--timezone", "Europe/Berlin"], db_file)
    assert added.returncode == 0 and "times in Europe/Berlin" in added.stdout, added.stderr
    assert "\ttz Europe/Berlin" in helpdesk(["agent", "list"], db_file).stdout
    moved = helpdesk(["agent", "timezone", "lena", "America/New_York"], db_file)
    assert moved.returncode == 0 and "America/New_York" in moved.stdout
    assert "\ttz America/New_York" in helpdesk(["agent", "list"], db_file).stdout
    unknown = helpdesk(["agent", "timezone", "lena", "../../etc/passwd"], db_file)
    assert unknown.returncode == 1 and "unknown time zone" in unknown.stderr
    assert helpdesk(["agent", "timezone", "lena", "--clear"], db_file).returncode == 0
    assert "\ttz" not in helpdesk(["agent", "list"], db_file).stdout


async def test_without_a_password_source_the_account_cannot_log_in_yet(tmp_path: Path) -> None:
    db_file = tmp_path / "desk.db"
    added = helpdesk(["agent", "add", "asha", "--languages", "te"], db_file)
    assert added.returncode == 0
    assert "no password yet" in added.stdout and "helpdesk agent password asha" in added.stdout
    listed = helpdesk(["agent", "list"], db_file)
    assert "asha\tagent\tte\tmax 3\t(no password)" in listed.stdout
    assert not await can_log_in(db_file, "asha", "")
    assert not await can_log_in(db_file, "asha", "any-password-at-all")


async def test_helpdesk_run_serves_the_console(tmp_path: Path) -> None:
    """The real command wires the desk and mounts the console (NLU pointed at nothing)."""
    db_file = tmp_path / "run.db"
    assert (
        helpdesk(["agent", "add", "priya", "--password-stdin"], db_file, stdin=SECRET).returncode
        == 0
    )
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "HELPDESK_AGENT_PASSWORD"},
        "DATABASE_URL": f"sqlite:///{db_file}",
        "HELPDESK_NLU__URL": "http://127.0.0.1:9",  # no NLU needed to serve the console
        "HELPDESK_WEB__PORT": str(port),
        "CONSOLE_SECRET_KEY": "a-long-random-test-key",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    async def serving() -> bool:
        # Another process: only asking its port tells when it is up.
        assert process.returncode is None, "helpdesk run exited early"
        try:
            async with httpx.AsyncClient() as probe:
                return (await probe.get(f"{base}/console/login")).status_code == 200
        except httpx.TransportError:
            return False

    try:
        await wait_until(serving, within=60, what="helpdesk run serving", every=0.2)
        agent = AgentClient(base)
        assert (await agent.login("priya", SECRET)).status_code == 303
        board = await agent.http.get("/console/")
        assert board.status_code == 200 and "Queue" in board.text
        await agent.close()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()

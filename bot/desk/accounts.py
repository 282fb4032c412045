"""``helpdesk agent add|password|slack|timezone|list``: agent accounts for the console.

The password comes from ``--password-stdin`` (one line), else ``HELPDESK_AGENT_PASSWORD``,
else a prompt when there is a terminal; it is never echoed, logged or stored in clear
(argon2id hash). Without any of them the account is created without a password and
cannot log in until ``helpdesk agent password NAME`` sets one.
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import sys
from functools import cache
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.agent_desk import AgentSessionRepository
from bot.storage.database import Database
from bot.storage.repositories import AgentRepository
from bot.storage.slack_desk import DeskThreadRepository

PASSWORD_ENV = "HELPDESK_AGENT_PASSWORD"
NAME = re.compile(r"^[\w.@-]{1,100}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}$")
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,30}$")


MIN_PASSWORD = 8

_hasher = PasswordHasher()  # argon2id, argon2-cffi's defaults


@cache
def _dummy_hash() -> str:
    # Verified against when the name is unknown, so timing does not reveal which names exist.
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash stored for a password of at least :data:`MIN_PASSWORD` characters."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash (unknown name) it takes as long, and fails."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str | None) -> bool:
    """Whether a stored hash was made with weaker parameters than today's (rehash at login)."""
    return _hasher.check_needs_rehash(password_hash or "")


class AccountError(Exception):
    """Bad input for an account command; the message says what to fix."""


def read_password(*, from_stdin: bool, stdin: TextIO = sys.stdin) -> str | None:
    if from_stdin:
        password = stdin.readline().rstrip("\r\n")
    elif os.environ.get(PASSWORD_ENV):
        password = os.environ[PASSWORD_ENV]
    elif stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise AccountError("the passwords do not match")
    else:
        return None
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    return password


def parse_languages(text: str) -> list[str]:
    languages = [code.strip().lower() for code in text.split(",") if code.strip()]
    bad = [code for code in languages if not LANGUAGE.match(code)]
    if bad or not languages:
        raise AccountError(f"languages must be ISO 639-1 codes like gu,en (got {text!r})")
    return languages


def parse_timezone(text: str) -> str:
    """An IANA zone name the console can show times in (``Europe/Berlin``), checked."""
    zone = text.strip()
    try:
        # ZoneInfo also accepts a relative path ("../x"): only names it keys the same way.
        if not zone or ZoneInfo(zone).key != zone:
            raise ZoneInfoNotFoundError(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise AccountError(
            f"unknown time zone {text!r}: use an IANA name like Europe/Berlin or Asia/Kolkata"
        ) from exc
    return zone


async def add_agent(
    db: Database,
    *,
    name: str,
    languages: list[str],
    max_chats: int,
    role: str,
    password: str | None,
    slack_user: str | None = None,
    timezone: str | None = None,
) -> str:
    if not NAME.match(name):
        raise AccountError("a name is 1-100 letters, digits, '.', '@', '_' or '-'")
    if max_chats < 1:
        raise AccountError("--max-chats must be at least 1")
    async with db.transaction() as session:
        agents = AgentRepository(session)
        if await agents.find(name):
            raise AccountError(f"agent '{name}' already exists")
        if slack_user is not None:
            await _check_slack_user(session, slack_user, name=name)
        agent = await agents.add(name=name, languages=languages, max_chats=max_chats, role=role)
        agent.slack_user_id = slack_user
        agent.timezone = timezone
        if password is not None:
            await agents.set_password_hash(agent, hash_password(password))
    summary = f"added {role} {name} ({','.join(languages)}, up to {max_chats} chats)"
    if slack_user is not None:
        summary += f", Slack user {slack_user}"
    if timezone is not None:
        summary += f", times in {timezone}"
    if password is None:
        summary += f"; no password yet: set one with `helpdesk agent password {name}`"
    return summary


async def set_password(db: Database, *, name: str, password: str) -> str:
    """Set a new password and end the agent's open console sessions."""
    async with db.transaction() as session:
        agents = AgentRepository(session)
        agent = await agents.find(name)
        if agent is None:
            raise AccountError(f"no agent named '{name}'")
        await agents.set_password_hash(agent, hash_password(password))
        await AgentSessionRepository(session).delete_for_agent(agent.id)
    return f"password set for {name}; their open console sessions were ended"


async def set_slack_user(db: Database, *, name: str, slack_user: str | None) -> str:
    """Map an agent to their Slack user id (None: unmap) for the Slack agent desk."""
    async with db.transaction() as session:
        agent = await AgentRepository(session).find(name)
        if agent is None:
            raise AccountError(f"no agent named '{name}'")
        if slack_user is not None:
            await _check_slack_user(session, slack_user, name=name)
        agent.slack_user_id = slack_user
    if slack_user is None:
        return f"{name} is no longer mapped to a Slack user"
    return f"{name} acts on the Slack desk as {slack_user}"


async def set_timezone(db: Database, *, name: str, timezone: str | None) -> str:
    """The zone the console shows this agent's times in (None: the team's zone)."""
    async with db.transaction() as session:
        agent = await AgentRepository(session).find(name)
        if agent is None:
            raise AccountError(f"no agent named '{name}'")
        agent.timezone = timezone
    if timezone is None:
        return f"{name} sees the console's times in the team's zone"
    return f"{name} sees the console's times in {timezone}"


async def _check_slack_user(session: AsyncSession, slack_user: str, *, name: str) -> None:
    if not SLACK_USER.match(slack_user):
        raise AccountError(
            f"a Slack user id looks like U0123ABCD (got {slack_user!r}); "
            "find it in the person's Slack profile, under ⋮ > Copy member ID"
        )
    holder = await DeskThreadRepository(session).agent_for(slack_user)
    if holder is not None and holder.name != name:
        raise AccountError(f"Slack user {slack_user} is already mapped to agent '{holder.name}'")


async def list_agents(db: Database) -> list[str]:
    async with db.transaction() as session:
        return [
            f"{a.name}\t{a.role}\t{a.languages}\tmax {a.max_chats}"
            + (f"\tslack {a.slack_user_id}" if a.slack_user_id else "")
            + (f"\ttz {a.timezone}" if a.timezone else "")
            + ("" if a.password_hash else "\t(no password)")
            for a in await AgentRepository(session).list()
        ]

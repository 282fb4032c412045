"""Console logins: argon2 passwords, server-side sessions in signed cookies, CSRF, throttling.

- Passwords are checked against their argon2id hashes (:mod:`bot.desk.accounts`); an
  unknown name costs the same time as a wrong password, and the message is the same.
- A login creates a random session token. The cookie carries it signed
  (``itsdangerous``), the database only its SHA-256, so a database leak gives no
  usable cookie and a logout (or a password change) ends the session everywhere.
  Cookies are ``HttpOnly``, ``SameSite=Strict``, scoped to ``/console``, and
  ``Secure`` over HTTPS.
- Every state-changing request needs the session's CSRF token (form field ``csrf``
  or header ``X-CSRF-Token``) and, when the browser sends one, a same-origin
  ``Origin``. The login form uses a double-submit token of its own.
- Five failed logins for one name from one address within 15 minutes block that
  pair for the rest of the window; twenty from one address (any names) block the
  address, fifty for one name (any addresses) block the name. Attempts count before the
  password is checked, so parallel guesses cannot overtake the count.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection
from starlette.responses import Response

from bot.desk.accounts import hash_password, needs_rehash, verify_password
from bot.desk.policy import Clock
from bot.storage.agent_desk import AgentSessionRepository
from bot.storage.database import Database
from bot.storage.models import Agent
from bot.storage.repositories import AgentRepository

SESSION_COOKIE = "helpdesk_console"
LOGIN_COOKIE = "helpdesk_login"
FLASH_COOKIE = "helpdesk_flash"
COOKIE_PATH = "/console"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Login:
    """The agent behind a request."""

    agent_id: int
    name: str
    role: str
    presence: str
    csrf: str
    token_hash: str
    timezone: str | None = None  # the agent's own zone for times; None: the team's

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class LoginFailed(Exception):
    pass


class Throttled(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


Key = tuple[str, str]
"""(what is counted, its value): ("pair", "address\\0name"), ("address", ...), ("name", ...)."""


@dataclass(slots=True)
class Attempt:
    """One login attempt, counted as a failure from the moment it starts."""

    throttle: LoginThrottle
    keys: tuple[Key, ...]
    at: float

    def failed(self) -> None:
        """Nothing to do: the attempt has counted since :meth:`LoginThrottle.begin`."""

    def succeeded(self) -> None:
        """Take the attempt back, and forget the pair's earlier failures."""
        self.throttle.forget(self)


class LoginThrottle:
    """Failed logins in a sliding window: per (address, name), per address, per name.

    An attempt counts from the moment it starts, before the password is checked, and the
    check and the count happen with no ``await`` between them, so the event loop makes
    them one step: forty parallel guesses get five password checks, not forty. A success
    takes its own attempt back. The counters live in this process (see docs/security.md
    for several workers); keys with no recent attempt are dropped, so spraying random
    names costs memory only for the window.
    """

    def __init__(
        self,
        *,
        per_pair: int = 5,
        per_address: int = 20,
        per_name: int = 50,
        window_s: float = 900,
    ) -> None:
        self.per_pair = per_pair
        self.per_address = per_address
        self.per_name = per_name
        self.window_s = window_s
        self._attempts: dict[Key, deque[float]] = {}

    def begin(self, client: str, name: str) -> Attempt:
        """Count an attempt of ``name`` from ``client``; :class:`Throttled` if over a limit."""
        now = time.monotonic()
        keys = (("pair", f"{client}\0{name}"), ("address", client), ("name", name))
        limits = (self.per_pair, self.per_address, self.per_name)
        for key, limit in zip(keys, limits, strict=True):
            recent = self._recent(key, now)
            if len(recent) >= limit:
                log.warning("console login throttled: %s %r", key[0], key[1].replace("\0", " "))
                raise Throttled(int(recent[0] + self.window_s - now) + 1)
        for key in keys:
            self._attempts.setdefault(key, deque()).append(now)
        return Attempt(self, keys, now)

    def forget(self, attempt: Attempt) -> None:
        pair, *others = attempt.keys
        self._attempts.pop(pair, None)
        for key in others:
            recent = self._attempts.get(key)
            if recent is not None and attempt.at in recent:
                recent.remove(attempt.at)

    def _recent(self, key: Key, now: float) -> deque[float]:
        recent = self._attempts.get(key)
        if recent is None:
            return deque()
        while recent and recent[0] <= now - self.window_s:
            recent.popleft()
        if not recent:
            del self._attempts[key]
        if len(self._attempts) > 10_000:
            self._sweep(now)
        return recent

    def _sweep(self, now: float) -> None:
        for key in [k for k, v in self._attempts.items() if not v or v[-1] <= now - self.window_s]:
            del self._attempts[key]


class Sessions:
    def __init__(
        self,
        *,
        db: Database,
        secret_key: str,
        lifetime: timedelta,
        clock: Clock,
        secure_cookies: bool | None = None,
    ) -> None:
        self.db = db
        self.lifetime = lifetime
        self.clock = clock
        self.secure_cookies = secure_cookies
        self.throttle = LoginThrottle()
        self._signer = URLSafeTimedSerializer(secret_key, salt="helpdesk-console-session")
        self._login_signer = URLSafeTimedSerializer(secret_key, salt="helpdesk-console-login")
        self._flash_signer = URLSafeTimedSerializer(secret_key, salt="helpdesk-console-flash")

    async def login(self, name: str, password: str, *, client: str) -> tuple[str, Agent]:
        """Check the password and open a session; returns the cookie value and the agent."""
        attempt = self.throttle.begin(client, name.strip().lower())
        async with self.db.transaction() as session:
            agent = await AgentRepository(session).find(name.strip())
        stored = agent.password_hash if agent is not None else None
        if not await asyncio.to_thread(verify_password, stored, password) or agent is None:
            attempt.failed()
            raise LoginFailed("Wrong name or password.")
        attempt.succeeded()
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        async with self.db.transaction() as session:
            repository = AgentSessionRepository(session)
            await repository.delete_expired(now)
            await repository.create(
                agent_id=agent.id,
                token_hash=_digest(token),
                csrf_token=secrets.token_urlsafe(32),
                expires_at=now + self.lifetime,
            )
            if needs_rehash(agent.password_hash):
                rehashed = await asyncio.to_thread(hash_password, password)
                await AgentRepository(session).set_password_hash(agent, rehashed)
        return self._signer.dumps(token), agent

    async def current(self, connection: HTTPConnection) -> Login | None:
        token = self._token(connection)
        if token is None:
            return None
        async with self.db.transaction() as session:
            found = await AgentSessionRepository(session).find(_digest(token), now=self.clock.now())
        if found is None:
            return None
        row, agent = found
        return Login(
            agent.id,
            agent.name,
            agent.role,
            agent.presence.value,
            row.csrf_token,
            row.token_hash,
            agent.timezone,
        )

    async def logout(self, login: Login) -> None:
        async with self.db.transaction() as session:
            await AgentSessionRepository(session).delete(login.token_hash)

    def _token(self, connection: HTTPConnection) -> str | None:
        cookie = connection.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            token = self._signer.loads(cookie, max_age=int(self.lifetime.total_seconds()))
        except BadSignature:
            return None
        return token if isinstance(token, str) else None

    # --- cookies ---------------------------------------------------------------------------

    def set_session(self, response: Response, connection: HTTPConnection, value: str) -> None:
        self._set(response, connection, SESSION_COOKIE, value, int(self.lifetime.total_seconds()))

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)

    def login_token(self) -> tuple[str, str]:
        """A fresh double-submit token for the login form: (form value, cookie value)."""
        token = secrets.token_urlsafe(24)
        return token, self._login_signer.dumps(token)

    def set_login_cookie(self, response: Response, connection: HTTPConnection, value: str) -> None:
        self._set(response, connection, LOGIN_COOKIE, value, 3600)

    def login_token_ok(self, connection: HTTPConnection, submitted: str) -> bool:
        try:
            expected = self._login_signer.loads(
                connection.cookies.get(LOGIN_COOKIE, ""), max_age=3600
            )
        except BadSignature:
            return False
        return isinstance(expected, str) and hmac.compare_digest(expected, submitted)

    def flash(self, response: Response, connection: HTTPConnection, text: str) -> None:
        """A one-time message for the next page (not in the URL: nobody can forge one)."""
        self._set(response, connection, FLASH_COOKIE, self._flash_signer.dumps(text), 60)

    def read_flash(self, connection: HTTPConnection) -> str | None:
        raw = connection.cookies.get(FLASH_COOKIE)
        if not raw:
            return None
        try:
            text = self._flash_signer.loads(raw, max_age=60)
        except BadSignature:
            return None
        return text if isinstance(text, str) else None

    def clear_flash(self, response: Response) -> None:
        response.delete_cookie(FLASH_COOKIE, path=COOKIE_PATH)

    def _set(
        self, response: Response, connection: HTTPConnection, name: str, value: str, max_age: int
    ) -> None:
        secure = (
            self.secure_cookies
            if self.secure_cookies is not None
            else connection.url.scheme in ("https", "wss")
        )
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=COOKIE_PATH,
            httponly=True,
            samesite="strict",
            secure=secure,
        )


def csrf_ok(login: Login, submitted: str | None) -> bool:
    return submitted is not None and hmac.compare_digest(login.csrf, submitted)


def same_origin(connection: HTTPConnection) -> bool:
    """No ``Origin`` (older clients) is allowed: the CSRF token still has to match."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    host = connection.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

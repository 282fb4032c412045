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
  pair for the rest of the window.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
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


@dataclass(frozen=True, slots=True)
class Login:
    """The agent behind a request."""

    agent_id: int
    name: str
    role: str
    presence: str
    csrf: str
    token_hash: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class LoginFailed(Exception):
    pass


class Throttled(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class LoginThrottle:
    """Failed attempts per (address, name) in a sliding window (in-process)."""

    def __init__(self, *, limit: int = 5, window_s: float = 900) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def check(self, key: tuple[str, str]) -> None:
        failures = self._recent(key)
        if len(failures) >= self.limit:
            raise Throttled(int(failures[0] + self.window_s - time.monotonic()) + 1)

    def failed(self, key: tuple[str, str]) -> None:
        self._recent(key).append(time.monotonic())

    def succeeded(self, key: tuple[str, str]) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] < time.monotonic() - self.window_s:
            failures.popleft()
        return failures


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
        key = (client, name.strip().lower())
        self.throttle.check(key)
        async with self.db.transaction() as session:
            agent = await AgentRepository(session).find(name.strip())
        stored = agent.password_hash if agent is not None else None
        if not await asyncio.to_thread(verify_password, stored, password) or agent is None:
            self.throttle.failed(key)
            raise LoginFailed("Wrong name or password.")
        self.throttle.succeeded(key)
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
            agent.id, agent.name, agent.role, agent.presence.value, row.csrf_token, row.token_hash
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

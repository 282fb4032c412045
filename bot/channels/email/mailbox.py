"""Reading the support mailbox over IMAP: IDLE where the server offers it, polling otherwise.

Each unseen mail is fetched with ``BODY.PEEK[]`` (which leaves it unseen), handed to the
channel, and marked ``\\Seen`` (and moved, with ``processed_folder``) only once the
channel says it is stored or deliberately ignored. A crash in between fetches it again
and the engine drops the duplicate by its Message-ID: nothing is lost, nothing doubled.
Mails are handed over one at a time in UID order, so a thread's mails keep their order.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aioimaplib

log = logging.getLogger(__name__)

Receive = Callable[[bytes], Awaitable[bool]]
"""Takes one raw mail; True once it is stored or ignored (mark it), False: try again later."""

_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True, slots=True)
class ImapAccount:
    host: str
    port: int
    tls: str  # "ssl" | "none"
    user: str
    password: str
    mailbox: str = "INBOX"
    processed_folder: str | None = None
    idle: bool = True
    idle_s: float = 600.0
    poll_s: float = 60.0
    timeout_s: float = 30.0
    tls_context: ssl.SSLContext | None = None


class ImapError(Exception):
    """The server answered a command with NO or BAD."""


class MailboxReader:
    """Fetches new mail until cancelled; reconnects with growing waits when the server fails."""

    def __init__(self, account: ImapAccount, receive: Receive) -> None:
        self.account = account
        self._receive = receive
        self.connected = asyncio.Event()
        self.idling = False
        """True while waiting in IDLE (tests wait for it before delivering mail)."""
        self.rounds = 0
        """Completed looks at the mailbox (tests and health checks)."""
        self._held = 0  # mails held back in a row: the pause before the next try grows

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self._session()
            except (OSError, TimeoutError, aioimaplib.AioImapException, ImapError) as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # a stop that a library's timeout turned into another error
                self.connected.clear()
                self.idling = False
                failures += 1
                delay = _BACKOFF[min(failures, len(_BACKOFF)) - 1]
                log.warning("IMAP %s: %s; reconnecting in %.0f s", self.account.host, exc, delay)
                await asyncio.sleep(delay)

    async def _session(self) -> None:
        account = self.account
        if account.tls == "ssl":
            context = account.tls_context or ssl.create_default_context()
            client = aioimaplib.IMAP4_SSL(
                host=account.host,
                port=account.port,
                timeout=account.timeout_s,
                ssl_context=context,
            )
        else:
            client = aioimaplib.IMAP4(
                host=account.host, port=account.port, timeout=account.timeout_s
            )
        try:
            await client.wait_hello_from_server()
            _ok(await client.login(account.user, account.password), "LOGIN")
            if account.processed_folder:
                await client.create(account.processed_folder)  # NO when it exists: fine
            _ok(await client.select(account.mailbox), f"SELECT {account.mailbox}")
            self.connected.set()
            log.info("IMAP connected to %s (%s)", account.host, account.mailbox)
            idle = account.idle and client.has_capability("IDLE")
            while True:
                while await self._drain(client):
                    pass
                self.rounds += 1
                if idle:
                    await self._wait_idle(client)
                else:
                    await asyncio.sleep(account.poll_s)
                    _ok(await client.noop(), "NOOP")
        finally:
            self.connected.clear()
            self.idling = False
            _close(client)

    async def _drain(self, client: aioimaplib.IMAP4) -> bool:
        """Hand over every unseen mail; True to look again at once.

        Again when a mail was held back (after a pause: the rest waits, order matters
        within a thread), or when the server announced new mail (an untagged EXISTS) in
        the answer to one of these commands: IDLE would not announce it a second time.
        """
        response = await client.uid_search("UNSEEN")
        _ok(response, "SEARCH")
        announced = _announces_mail(response)
        for uid in _search_uids(response):
            fetched = await client.uid("fetch", str(uid), "(BODY.PEEK[])")
            _ok(fetched, "FETCH")
            announced = announced or _announces_mail(fetched)
            raw = next((bytes(line) for line in fetched.lines if isinstance(line, bytearray)), None)
            if raw is None:
                continue  # expunged meanwhile
            if not await self._receive(raw):
                self._held += 1
                await asyncio.sleep(_BACKOFF[min(self._held, len(_BACKOFF)) - 1])
                return True
            self._held = 0
            announced = await self._settle(client, uid) or announced
        return announced

    async def _settle(self, client: aioimaplib.IMAP4, uid: int) -> bool:
        """Mark the mail (and move it); True when the server announced new mail meanwhile."""
        stored = await client.uid("store", str(uid), "+FLAGS.SILENT", "(\\Seen)")
        _ok(stored, "STORE")
        folder = self.account.processed_folder
        if folder:
            _ok(await client.uid("move", str(uid), folder), f"MOVE {folder}")
        return _announces_mail(stored)

    async def _wait_idle(self, client: aioimaplib.IMAP4) -> None:
        """Wait for the server to announce new mail (or for the IDLE to need renewing)."""
        idle = await client.idle_start(timeout=self.account.idle_s)
        self.idling = True
        try:
            while client.has_pending_idle():
                push = await client.wait_server_push(timeout=self.account.idle_s + 60)
                if push == aioimaplib.STOP_WAIT_SERVER_PUSH or any(
                    b"EXISTS" in line for line in push if isinstance(line, bytes)
                ):
                    break
        finally:
            self.idling = False
        client.idle_done()
        await asyncio.wait_for(idle, self.account.timeout_s)


def _close(client: aioimaplib.IMAP4) -> None:
    """Drop the connection at once. Not LOGOUT: with an IDLE pending (or the server gone)
    aioimaplib's logout waits on it, and cancelling that wait can hang the shutdown."""
    waiter = getattr(client, "_idle_waiter", None)
    if waiter is not None:
        waiter.cancel()
    for task in list(getattr(client, "tasks", ())):
        task.cancel()
    transport = getattr(client.protocol, "transport", None)
    if transport is not None:
        transport.close()


def _search_uids(response: aioimaplib.Response) -> list[int]:
    """The UIDs of a SEARCH answer: its line of numbers, not an untagged ``3 EXISTS``."""
    for line in response.lines[:-1]:
        if isinstance(line, bytes) and all(token.isdigit() for token in line.split()):
            return sorted(int(token) for token in line.split())
    return []


def _announces_mail(response: aioimaplib.Response) -> bool:
    return any(isinstance(line, bytes) and line.endswith(b" EXISTS") for line in response.lines)


def _ok(response: aioimaplib.Response, what: str) -> None:
    if response.result != "OK":
        detail = b" ".join(bytes(line) for line in response.lines)[:200].decode("utf-8", "replace")
        raise ImapError(f"{what}: {response.result} {detail}")

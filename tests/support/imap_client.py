"""A test's own hands in the mailbox: put mail in, read flags, as a mail client would."""

from __future__ import annotations

import asyncio
import imaplib
import re

from tests.support.mail_servers import PASSWORD, USER, Dovecot


class MailboxClient:
    """The standard library's imaplib, run in a thread so the event loop keeps going."""

    def __init__(self, server: Dovecot) -> None:
        self.server = server

    def _connect(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.server.port, timeout=30)
        client.login(USER, PASSWORD)
        return client

    def _append(self, data: bytes, folder: str) -> None:
        client = self._connect()
        try:
            status, detail = client.append(folder, "", None, data)
            assert status == "OK", detail
        finally:
            client.logout()

    async def deliver(self, data: bytes, folder: str = "INBOX") -> None:
        await asyncio.to_thread(self._append, data, folder)

    def _flags(self, folder: str) -> list[set[str]]:
        client = self._connect()
        try:
            status, _ = client.select(folder, readonly=True)
            assert status == "OK"
            status, data = client.fetch("1:*", "(FLAGS)")
            if status != "OK" or data == [None]:
                return []
            return [
                set(re.search(rb"FLAGS \(([^)]*)\)", item).group(1).decode().split())  # type: ignore[union-attr]
                for item in data
                if isinstance(item, bytes)
            ]
        finally:
            client.logout()

    async def flags(self, folder: str = "INBOX") -> list[set[str]]:
        """The flags of every mail in ``folder``, in order."""
        return await asyncio.to_thread(self._flags, folder)

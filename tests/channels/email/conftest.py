"""Real mail servers for the email channel's tests: Dovecot (IMAP) and aiosmtpd (SMTP)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.mail_servers import Dovecot, SmtpServer, dovecot_available


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    if not dovecot_available():
        pytest.fail("dovecot is not installed: run `make system-packages` as root")
    # Not pytest's tmp_path: its parents are private to us, and as root Dovecot's own
    # unprivileged processes must reach the passwd file and the mailbox.
    root = Path(tempfile.mkdtemp(prefix="helpdesk-dovecot-"))
    server = Dovecot(root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()

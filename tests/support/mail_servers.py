"""Real mail servers on 127.0.0.1 for the email channel's tests.

- :class:`Dovecot`: Debian's ``dovecot-imapd`` (``make system-packages``) started in the
  foreground with a throwaway configuration in a temporary directory: one passwd-file
  user, maildir storage, plain IMAP on a free port, no system service touched. Mails are
  put in by IMAP ``APPEND``, as a delivery agent would.
- :class:`SmtpServer`: ``aiosmtpd`` in its own thread, keeping every mail it receives.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import subprocess
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from bot.nlu.rasa_server import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER = "support@example.com"
PASSWORD = "imap-secret"


def dovecot_available() -> bool:
    return Path(DOVECOT).exists()


class Dovecot:
    """One Dovecot instance with one mailbox user; ``stop`` kills it (and only it)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        me = pwd.getpwuid(os.getuid())
        root = os.getuid() == 0
        # As root, Dovecot's login and internal processes need their unprivileged users
        # (the Debian package creates them); as anyone else, everything runs as them.
        login_user = "dovenull" if root else me.pw_name
        internal_user = "dovecot" if root else me.pw_name
        # Dovecot never keeps mail as root: the mailbox belongs to its own user then.
        mail_user = pwd.getpwnam("dovecot") if root else me
        for name in ("run", "mail", "home", "state"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        if root:
            for name in ("mail", "home"):
                os.chmod(self.root / name, 0o777)
            os.chmod(self.root, 0o755)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        config = self.root / "dovecot.conf"
        config.write_text(
            f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {"dovecot" if root else pwd.getpwuid(os.getuid()).pw_name}
mail_location = maildir:{self.root}/mail/%u
first_valid_uid = 0
passdb {{
  driver = passwd-file
  args = {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={self.root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""
        )
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode() if self.process.stdout else ""
                raise RuntimeError(f"dovecot exited: {output}{self.log()}")
            try:
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not listen: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class _Keeper:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, _: SMTP, __: Session, envelope: Envelope, address: str, ___: list[str]
    ) -> str:
        if address in self.server.refuse:
            return "550 5.1.1 no such user"  # as a server that knows its mailboxes says it
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, _: SMTP, __: Session, envelope: Envelope) -> str:
        if self.server.busy:
            return "451 4.3.0 try again later"
        content = envelope.original_content or b""
        mail = message_from_bytes(content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        with self.server.lock:
            self.server.received.append((list(envelope.rcpt_tos), mail))
        return "250 OK"


class SmtpServer:
    """aiosmtpd on a free port; ``received`` holds (recipients, mail) in arrival order."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.refuse: set[str] = set()
        self.busy = False
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def start(self) -> None:
        """Listen (again: a stopped server comes back on the same port)."""
        self._controller = Controller(_Keeper(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def mails(self) -> list[EmailMessage]:
        with self.lock:
            return [mail for _, mail in self.received]

    async def wait_for(self, count: int, *, within: float = 30.0) -> list[EmailMessage]:
        deadline = time.monotonic() + within
        while len(self.mails()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.mails())} mails received, {count} expected")
            await asyncio.sleep(0.02)
        return self.mails()

"""Email channel latency: IMAP APPEND -> answer at the SMTP server, IDLE vs polling every second.

20 mails one after another against a real Dovecot and aiosmtpd on 127.0.0.1, SQLite, the
tests' scripted NLU (the channel's and the engine's cost, not Rasa's).
Run: PYTHONPATH=. .venv/bin/python bench/email_latency.py
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bot.channels.email.channel import EmailChannel
from bot.channels.email.mailbox import ImapAccount
from bot.channels.email.smtp import SmtpAccount
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from tests.channels.email.mails import mail, raw
from tests.support.desk import OPEN, make_rig
from tests.support.imap_client import MailboxClient
from tests.support.mail_servers import PASSWORD, USER, Dovecot, SmtpServer
from tests.support.waiting import wait_until

MAILS = 20


async def run(*, idle: bool) -> list[float]:
    root = Path(tempfile.mkdtemp(prefix="helpdesk-dovecot-"))
    dovecot = Dovecot(root)
    dovecot.start()
    smtp = SmtpServer()
    smtp.start()
    url = f"sqlite+aiosqlite:///{root}/bench.db"
    await upgrade_async(url)
    db = Database(url)
    channel = EmailChannel(
        address="support@example.com",
        display_name="Support",
        imap=ImapAccount(
            host="127.0.0.1",
            port=dovecot.port,
            tls="none",
            user=USER,
            password=PASSWORD,
            idle=idle,
            poll_s=1.0,
        ),
        smtp=SmtpAccount(host="127.0.0.1", port=smtp.port, tls="none", user=None, password=None),
    )
    await make_rig(db, channel=channel, start=OPEN)
    await channel.wait_connected(30)
    box = MailboxClient(dovecot)
    times = []
    try:
        for n in range(MAILS):
            if idle:
                await wait_until(lambda: channel.reader.idling, within=30, what="IDLE")
            started = time.perf_counter()
            await box.deliver(raw(mail("Where is my order?", sender=f"c{n}@example.org")))
            await smtp.wait_for(n + 1)
            times.append(time.perf_counter() - started)
    finally:
        await channel.stop()
        smtp.stop()
        dovecot.stop()
        await db.dispose()
        shutil.rmtree(root, ignore_errors=True)
    return sorted(times)


async def main() -> None:
    for idle in (True, False):
        ms = [t * 1000 for t in await run(idle=idle)]
        p90 = ms[int(len(ms) * 0.9) - 1]
        name = "IDLE" if idle else "polling 1 s"
        p50 = statistics.median(ms)
        print(f"{name}: n={len(ms)} p50={p50:.0f} ms p90={p90:.0f} ms max={ms[-1]:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())

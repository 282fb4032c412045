"""One bot process with the email channel, for the kill -9 test: run, get killed, run again.

``python -m tests.support.email_worker DB_URL IMAP_PORT SMTP_PORT``: the engine and desk
as ``helpdesk run`` wires them (scripted NLU), the email channel reading the Dovecot
mailbox; at start-up it finishes what a killed predecessor stored but did not answer
(``Engine.recover``), then serves until killed.
"""

from __future__ import annotations

import asyncio
import sys

from bot.channels.email.channel import EmailChannel
from bot.channels.email.mailbox import ImapAccount
from bot.channels.email.smtp import SmtpAccount
from bot.storage.database import Database
from bot.tickets.email_threads import EmailThreadDirectory
from tests.support.desk import OPEN, make_rig
from tests.support.mail_servers import PASSWORD, USER


async def main(db_url: str, imap_port: int, smtp_port: int) -> None:
    db = Database(db_url)
    channel = EmailChannel(
        address="support@example.com",
        display_name="VoltCart Support",
        imap=ImapAccount(
            host="127.0.0.1", port=imap_port, tls="none", user=USER, password=PASSWORD
        ),
        smtp=SmtpAccount(host="127.0.0.1", port=smtp_port, tls="none", user=None, password=None),
        directory=EmailThreadDirectory(db),
    )
    rig = await make_rig(db, channel=channel, start=OPEN)
    await rig.engine.recover()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))

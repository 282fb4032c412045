"""What the email notice job costs (bot/tickets/email_notices.py), on SQLite and PostgreSQL.

Seeds N web chat customers (each with an email address and a ticket) whose tab is closed,
answers every ticket from the ticket service (one chat notification each, pending: nobody
connected), then times the job: a run before ``webchat_after_s`` (every notice read,
none due), the run after it (up to 200 decided and mailed per run: the mails stored in
the outbox and sent one SMTP conversation each to aiosmtpd on 127.0.0.1), and a run with
nothing left. Real Dovecot (the channel's IMAP side idles) and aiosmtpd; the tests'
scripted NLU.

    PYTHONPATH=. .venv/bin/python bench/email_notices.py --customers 200 \
        --url sqlite+aiosqlite:////tmp/notices-bench.db
    PYTHONPATH=. .venv/bin/python bench/email_notices.py --customers 200 \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/notices_bench
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path

from bench.surveys_job import fresh
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from bot.storage.models import Conversation, ConversationState, Customer
from tests.channels.email.test_email_channel import channel_for
from tests.support.mail_servers import Dovecot, SmtpServer
from tests.support.notice_rig import make_notice_rig
from tests.support.waiting import wait_until


async def main(url: str, customers: int) -> None:
    await fresh(url)
    await upgrade_async(url)
    db = Database(url)
    root = Path(tempfile.mkdtemp(prefix="helpdesk-dovecot-"))
    dovecot = Dovecot(root)
    dovecot.start()
    smtp = SmtpServer()
    smtp.start()
    email = channel_for(dovecot, smtp)
    try:
        rig = await make_notice_rig(db, email)
        conversations = []
        async with db.transaction() as session:
            for n in range(customers):
                customer = Customer(display_name=f"c{n}", email=f"c{n}@example.org")
                session.add(customer)
                await session.flush()
                conversation = Conversation(
                    customer_id=customer.id,
                    channel="webchat",
                    conversation_key=f"bench-session-{n:06d}",
                    state=ConversationState.BOT,
                    low_confidence_streak=0,
                )
                session.add(conversation)
                conversations.append(conversation)
        started = time.perf_counter()
        for conversation in conversations:
            ticket_id = await rig.ticket_for(conversation, language="gu")
            await rig.tickets.public_reply(ticket_id, "Your replacement ships Monday.", actor="a")
        seeded = time.perf_counter() - started
        print(f"{customers} tickets answered while the customers were away: {seeded:.1f} s")

        for label, advance in (
            ("before webchat_after_s", 0),
            ("after it", 61),
            ("nothing left", 0),
        ):
            rig.clock.advance(seconds=advance)
            started = time.perf_counter()
            mailed = await rig.job.run()
            took = time.perf_counter() - started
            print(f"run {label}: {mailed} mailed in {took * 1000:.0f} ms")
        await wait_until(
            lambda: len(smtp.mails()) >= min(customers, 200), within=60, what="the mails"
        )
        print(f"mails at the SMTP server: {len(smtp.mails())}")
    finally:
        await email.stop()
        smtp.stop()
        dovecot.stop()
        shutil.rmtree(root, ignore_errors=True)
        await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--url", default="sqlite+aiosqlite:////tmp/notices-bench.db")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.url, arguments.customers))

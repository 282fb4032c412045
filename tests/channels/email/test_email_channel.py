"""The email channel end to end against real servers: Dovecot (IMAP) and aiosmtpd (SMTP).

Mail goes into the Dovecot mailbox by IMAP APPEND; the channel reads it as in
production (IDLE or polling), the engine answers with the scripted NLU and the desk, and
the assertions read what the SMTP server received, the mailbox's flags and the rows.
Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import closing
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from bot.channels import ChannelSendError, RecipientUnreachable
from bot.channels.email.channel import EmailChannel
from bot.channels.email.mailbox import ImapAccount
from bot.channels.email.smtp import SmtpAccount
from bot.knowledge.loader import load_knowledge_base
from bot.messages import InboundMessage, OutboundMessage
from bot.storage.database import Database
from bot.storage.models import Conversation, ConversationState, Direction, Message, Ticket
from bot.tickets.email_threads import EmailThreadDirectory
from tests.channels.email.mails import SUPPORT, bounce, mail, raw
from tests.conftest import ROOT, TEST_KB
from tests.support.desk import OPEN, SUNDAY, DeskRig, make_rig
from tests.support.imap_client import MailboxClient
from tests.support.mail_servers import PASSWORD, USER, Dovecot, SmtpServer
from tests.support.stored_rows import stored_rows
from tests.support.waiting import wait_until

KB = load_knowledge_base(TEST_KB)
ORDER_ANSWER = KB.entries["order_status"].answers["en"]
SEEN = "\\Seen"


def channel_for(
    dovecot: Dovecot,
    smtp: SmtpServer,
    *,
    idle: bool = True,
    poll_s: float = 600.0,
    **options: Any,
) -> EmailChannel:
    return EmailChannel(
        address=SUPPORT,
        display_name="VoltCart Support",
        imap=ImapAccount(
            host="127.0.0.1",
            port=dovecot.port,
            tls="none",
            user=USER,
            password=PASSWORD,
            idle=idle,
            poll_s=poll_s,
        ),
        smtp=SmtpAccount(host="127.0.0.1", port=smtp.port, tls="none", user=None, password=None),
        **options,
    )


async def email_rig(db: Database, channel: EmailChannel, **rig: Any) -> DeskRig:
    built = await make_rig(db, channel=channel, **rig)
    channel.directory = EmailThreadDirectory(db)
    await channel.wait_connected(30)
    return built


@pytest.fixture
async def stopping() -> AsyncIterator[list[EmailChannel]]:
    """Channels to stop after the test, whatever happened."""
    channels: list[EmailChannel] = []
    yield channels
    for channel in channels:
        await channel.stop()


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


async def mail_where(
    smtp: SmtpServer, found: Callable[[EmailMessage], bool], *, within: float = 30
) -> EmailMessage:
    await wait_until(
        lambda: any(found(m) for m in smtp.mails()), within=within, what="the expected mail"
    )
    return next(m for m in smtp.mails() if found(m))


async def conversations(db: Database) -> list[Conversation]:
    return await stored_rows(db, Conversation, Conversation.channel == "email")


async def inbound_rows(db: Database) -> list[Message]:
    return await stored_rows(db, Message, Message.direction == Direction.IN)


# --- the round trip --------------------------------------------------------------------------


async def test_a_mail_is_answered_in_its_thread_and_the_replies_join_it(
    db: Database, dovecot: Dovecot, smtp: SmtpServer, stopping: list[EmailChannel]
) -> None:
    channel = channel_for(dovecot, smtp)
    stopping.append(channel)
    rig = await email_rig(db, channel, start=OPEN)
    priya = await rig.add_agent("priya")
    box = MailboxClient(dovecot)

    await box.deliver(raw(mail("Where is my order?", message_id="<q1@example.org>")))
    answer = await mail_where(smtp, lambda m: ORDER_ANSWER in body(m))
    assert answer["To"] == "alice@example.org"
    assert answer["From"] == f"VoltCart Support <{SUPPORT}>"
    assert answer["Subject"] == "Re: Where is my order?"
    assert answer["In-Reply-To"] == "<q1@example.org>"
    assert answer["References"].split() == ["<q1@example.org>"]
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer.get_body(preferencelist=("html",)) is not None
    await wait_until(lambda: _all_seen(box, 1), within=30, what="the mail marked seen")
    assert await box.flags() == [{SEEN}]  # stored, then marked

    [conversation] = await conversations(db)
    assert conversation.conversation_key.startswith("alice@example.org#")
    sent = await stored_rows(db, Message, Message.direction == Direction.OUT)
    assert answer["Message-ID"] in {m.platform_message_id for m in sent}

    # The customer answers from their client: quoted history below, our id in the headers.
    reply = mail(
        "I want to talk to a person\n\nOn Wed, 25 Nov 2026 at 11:31, VoltCart Support "
        f"<{SUPPORT}> wrote:\n> {ORDER_ANSWER}\n",
        subject="Re: Where is my order?",
        message_id="<q2@example.org>",
        in_reply_to=answer["Message-ID"],
        references=["<q1@example.org>", answer["Message-ID"]],
    )
    await box.deliver(raw(reply))
    await wait_until(
        lambda: _in_state(db, ConversationState.QUEUED), within=30, what="the chat queued"
    )
    assert [c.id for c in await conversations(db)] == [conversation.id]
    texts = [m.text for m in await inbound_rows(db)]
    assert texts == ["Where is my order?", "I want to talk to a person"]

    # The agent answers from the console; after a restart (no memory of the thread) the
    # stored history still threads it under the customer's newest mail.
    await rig.desk.claim(priya, conversation.id)
    channel._threads.clear()
    await rig.desk.reply(priya, conversation.id, "Hi Alice, Priya here. Let me check.")
    from_agent = await mail_where(smtp, lambda m: "Priya here" in body(m))
    assert from_agent["Auto-Submitted"] is None  # a person wrote it
    assert from_agent["In-Reply-To"] == "<q2@example.org>"
    assert "<q1@example.org>" in from_agent["References"].split()
    token = answer["Message-ID"].split(".")[1]
    assert from_agent["Message-ID"].startswith(f"<hd.{token}.")
    assert await box.flags() == [{SEEN}, {SEEN}]


async def _in_state(db: Database, state: ConversationState) -> bool:
    found = await conversations(db)
    return bool(found) and found[0].state == state


# --- noise -------------------------------------------------------------------------------------


async def test_auto_replies_bounces_lists_and_ourselves_get_no_answer(
    db: Database, dovecot: Dovecot, smtp: SmtpServer, stopping: list[EmailChannel]
) -> None:
    channel = channel_for(dovecot, smtp)
    stopping.append(channel)
    await email_rig(db, channel, start=OPEN)
    box = MailboxClient(dovecot)
    out_of_office = mail(
        "I am out of the office until Monday.",
        subject="Automatic reply: Where is my order?",
        headers={"Auto-Submitted": "auto-replied"},
    )
    for data in (
        raw(out_of_office),
        bounce(),
        raw(mail(headers={"Precedence": "bulk"})),
        raw(mail(headers={"X-Loop": "helpdesk@shop.example"})),
        raw(mail(sender=SUPPORT)),
        raw(mail(headers={"List-Id": "<deals.example.org>"})),
        raw(mail("Where is my order?", sender="bob@example.org", name="Bob")),
    ):
        await box.deliver(data)
    answer = await mail_where(smtp, lambda m: ORDER_ANSWER in body(m))
    assert answer["To"] == "bob@example.org"
    await wait_until(lambda: _all_seen(box, 7), within=30, what="every mail marked seen")
    assert [m.text for m in await inbound_rows(db)] == ["Where is my order?"]
    assert [why for _, why in channel.ignored] == [
        "auto-submitted",
        "bounce",
        "precedence",
        "x-loop",
        "our own address",
        "mailing list",
    ]
    await _settled(channel)
    assert len(smtp.mails()) == 1


async def test_a_sender_past_the_hourly_limit_is_not_answered(
    db: Database, dovecot: Dovecot, smtp: SmtpServer, stopping: list[EmailChannel]
) -> None:
    channel = channel_for(dovecot, smtp, max_mails_per_sender_hour=2)
    stopping.append(channel)
    await email_rig(db, channel, start=OPEN)
    box = MailboxClient(dovecot)
    for n in range(3):
        await box.deliver(raw(mail("Where is my order?", subject=f"Order {n}")))
    await wait_until(lambda: _all_seen(box, 3), within=30, what="every mail marked seen")
    await _settled(channel)
    assert len(await inbound_rows(db)) == 2
    assert channel.ignored == [("alice@example.org", "rate limit")]
    assert len(smtp.mails()) == 2


async def _all_seen(box: MailboxClient, count: int) -> bool:
    flags = await box.flags()
    return len(flags) == count and all(SEEN in f for f in flags)


async def _settled(channel: EmailChannel) -> None:
    """Every turn the channel started has finished (its replies are sent or failed)."""
    await wait_until(lambda: not channel._tasks, within=30, what="the turns finished")


# --- tickets -----------------------------------------------------------------------------------


async def test_a_new_mail_with_the_ticket_reference_joins_the_ticket_conversation(
    db: Database, dovecot: Dovecot, smtp: SmtpServer, stopping: list[EmailChannel]
) -> None:
    channel = channel_for(dovecot, smtp)
    stopping.append(channel)
    rig = await email_rig(db, channel, start=SUNDAY)
    await rig.add_agent("priya")  # online, but it is Sunday: a ticket instead
    box = MailboxClient(dovecot)
    await box.deliver(raw(mail("I want to talk to a person", subject="Broken charger")))
    await wait_until(lambda: stored_rows(db, Ticket), within=30, what="a ticket")
    [ticket] = await stored_rows(db, Ticket)
    assert ticket.reference is not None
    reference = ticket.reference
    notice = await mail_where(smtp, lambda m: reference in body(m))
    assert notice["Subject"] == f"Re: Broken charger [{ticket.reference}]"

    # A fresh mail (no reply headers) naming the ticket joins its conversation...
    await box.deliver(raw(mail("Here is the serial: 12345", subject=f"[{ticket.reference}]")))
    # ...but only for the same customer: someone else naming it starts their own.
    await box.deliver(
        raw(mail("Me too", sender="mallory@example.net", subject=f"[{ticket.reference}]"))
    )
    await wait_until(lambda: _count(inbound_rows(db), 3), within=30, what="three mails stored")
    rows = await inbound_rows(db)
    assert rows[1].conversation_id == rows[0].conversation_id == ticket.conversation_id
    assert rows[2].conversation_id != ticket.conversation_id


async def _count(rows: Any, count: int) -> bool:
    return len(await rows) >= count


async def _stored_inbound(db: Database, db_url: str) -> int:
    """How many inbound mails are stored, read beside a worker that is writing them.

    On SQLite every transaction of ours takes the write lock (``BEGIN IMMEDIATE``), so a
    poll through ``db`` waits behind the worker's writes and may only get in once all of
    them are done; a read-only connection reads the WAL at once instead.
    """
    if db_url.startswith("sqlite"):
        path = make_url(db_url).database
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as reader:
            [count] = reader.execute("SELECT count(*) FROM messages WHERE direction = 'in'")
            return int(count[0])
    return len(await inbound_rows(db))


# --- email straight to the agents --------------------------------------------------------------


async def test_without_faq_answers_a_mail_goes_to_the_agents(
    db: Database, dovecot: Dovecot, smtp: SmtpServer, stopping: list[EmailChannel]
) -> None:
    channel = channel_for(dovecot, smtp, answer_faqs=False)
    stopping.append(channel)
    rig = await email_rig(db, channel, start=OPEN)
    await rig.add_agent("priya")
    await MailboxClient(dovecot).deliver(raw(mail("Where is my order?")))
    await wait_until(
        lambda: _in_state(db, ConversationState.QUEUED), within=30, what="the mail queued"
    )
    await _settled(channel)
    assert all(ORDER_ANSWER not in body(m) for m in smtp.mails())
    [stored] = await inbound_rows(db)
    assert stored.text == "Where is my order?"  # the agent reads the customer's words


# --- a crash between storing and marking -------------------------------------------------------


async def test_a_mail_stored_but_not_marked_before_a_crash_is_not_answered_twice(
    db: Database, dovecot: Dovecot, smtp: SmtpServer, stopping: list[EmailChannel]
) -> None:
    channel = channel_for(dovecot, smtp)
    stopping.append(channel)
    rig = await email_rig(db, channel, start=OPEN)
    await channel.stop()

    async def dies_after_commit(inbound: InboundMessage, *, on_stored: Any = None) -> object:
        async def gone() -> None:
            # The process dies right after the commit: the mail is never marked seen.
            assert channel._runner is not None
            channel._runner.cancel()

        return await rig.engine.receive(inbound, on_stored=gone)

    await channel.start(dies_after_commit)
    box = MailboxClient(dovecot)
    await box.deliver(raw(mail("Where is my order?")))
    await mail_where(smtp, lambda m: ORDER_ANSWER in body(m))
    assert await box.flags() == [set()]  # stored and answered, not marked
    await channel.stop()

    await channel.start(rig.engine.receive)  # the restarted process fetches it again
    await wait_until(lambda: _all_seen(box, 1), within=30, what="the mail marked seen")
    await _settled(channel)
    assert len(await inbound_rows(db)) == 1
    assert len(smtp.mails()) == 1


# --- IDLE and polling --------------------------------------------------------------------------


@pytest.mark.parametrize("idle", [True, False], ids=["idle", "polling"])
async def test_new_mail_is_seen_by_idle_or_by_polling(
    db: Database, dovecot: Dovecot, smtp: SmtpServer, stopping: list[EmailChannel], idle: bool
) -> None:
    # With IDLE the next poll is 10 minutes away: only the server's push can bring it in.
    channel = channel_for(dovecot, smtp, idle=idle, poll_s=600.0 if idle else 0.2)
    stopping.append(channel)
    await email_rig(db, channel, start=OPEN)
    if idle:
        await wait_until(lambda: channel.reader.idling, within=30, what="IDLE started")
    await MailboxClient(dovecot).deliver(raw(mail("Where is my order?")))
    await mail_where(smtp, lambda m: ORDER_ANSWER in body(m), within=60)


# --- sending -----------------------------------------------------------------------------------


async def test_smtp_refusals_are_permanent_and_outages_are_retried(smtp: SmtpServer) -> None:
    channel = EmailChannel(
        address=SUPPORT,
        display_name="VoltCart Support",
        imap=ImapAccount(host="127.0.0.1", port=1, tls="none", user=USER, password=PASSWORD),
        smtp=SmtpAccount(host="127.0.0.1", port=smtp.port, tls="none", user=None, password=None),
    )
    key = "alice@example.org#0123456789ab"
    reply = OutboundMessage("Your order is on its way.")

    message_id = await channel.send(key, reply)
    [sent] = smtp.mails()
    assert message_id is not None and message_id.startswith("<hd.0123456789ab.")
    assert sent["Message-ID"] == message_id

    smtp.refuse.add("alice@example.org")
    with pytest.raises(RecipientUnreachable):
        await channel.send(key, reply)
    smtp.refuse.clear()

    smtp.busy = True
    with pytest.raises(ChannelSendError) as busy:
        await channel.send(key, reply)
    assert not busy.value.permanent
    smtp.busy = False

    with pytest.raises(ChannelSendError) as bad_key:
        await channel.send("chat-42", reply)
    assert bad_key.value.permanent

    smtp.stop()
    with pytest.raises(ChannelSendError) as down:
        await channel.send(key, reply)
    assert not down.value.permanent
    smtp.start()
    await channel.send(key, reply)
    assert len(smtp.mails()) == 2


# --- kill -9 mid-fetch -------------------------------------------------------------------------


async def test_a_worker_killed_mid_fetch_loses_and_duplicates_nothing(
    db: Database, db_url: str, dovecot: Dovecot, smtp: SmtpServer
) -> None:
    box = MailboxClient(dovecot)
    senders = [f"customer{n}@example.org" for n in range(10)]
    ids = []
    for round_ in range(3):
        for n, sender in enumerate(senders):
            message_id = f"<m{round_}.{n}@example.org>"
            ids.append(message_id)
            await box.deliver(raw(mail("Where is my order?", sender=sender, message_id=message_id)))

    def worker() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.email_worker",
                db_url,
                str(dovecot.port),
                str(smtp.port),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    async def five_stored() -> bool:
        return await _stored_inbound(db, db_url) >= 5

    first = worker()
    try:
        await wait_until(five_stored, within=120, what="the first worker storing")
    finally:
        first.kill()  # SIGKILL: no shutdown, no cleanup
        first.wait()
    stored_at_kill = len(await inbound_rows(db))
    assert stored_at_kill < len(ids), "the kill came too late to test anything"

    second = worker()
    try:
        await wait_until(lambda: _all_seen(box, len(ids)), within=180, what="every mail marked")
        await wait_until(
            lambda: {m["In-Reply-To"] for m in smtp.mails()} >= set(ids),
            within=180,
            what="every mail answered",
        )
    finally:
        second.kill()
        second.wait()
    rows = await inbound_rows(db)
    assert sorted(r.platform_message_id or "" for r in rows) == sorted(ids)  # once each
    answers = [m["In-Reply-To"] for m in smtp.mails()]
    # A reply in flight at the kill may go out again (SMTP has no idempotency): at most
    # one per conversation that was mid-turn.
    assert len(answers) - len(ids) <= len(senders)
    print(f"stored at the kill: {stored_at_kill}/{len(ids)}; answers sent: {len(answers)}")

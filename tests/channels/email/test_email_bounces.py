"""Bounces of our mail, matched back to the message we sent, and the subject of a mail kept.

The DSNs are built as Postfix and Exchange send them (RFC 3464: the report, the
machine-readable status, the returned mail or only its headers); the end-to-end test
delivers one into a real Dovecot for the channel to read. SQLite and PostgreSQL.
"""

from __future__ import annotations

import html
from email import message_from_bytes, policy
from email.message import EmailMessage

from bot.channels.email.bounces import read_bounce
from bot.channels.email.inbound import read_mail
from bot.storage.database import Database
from bot.storage.models import (
    ChannelIdentity,
    Delivery,
    Direction,
    Message,
    Ticket,
    TicketEvent,
)
from tests.channels.email.mails import SUPPORT, bounce, mail, raw
from tests.channels.email.test_email_channel import (
    _all_seen,
    body,
    channel_for,
    email_rig,
    mail_where,
)
from tests.support.console import PASSWORD, console_page
from tests.support.desk import SUNDAY
from tests.support.imap_client import MailboxClient
from tests.support.mail_servers import Dovecot, SmtpServer
from tests.support.stored_rows import stored_rows
from tests.support.waiting import wait_until

OURS = "<hd.0123456789ab.77aa@example.com>"
EARLIER = "<hd.0123456789ab.1100@example.com>"


def returned(original_id: str = OURS) -> EmailMessage:
    """One of our replies as it left: its References name an earlier mail of ours too."""
    sent = mail("Your ticket was resolved.", sender=SUPPORT, name="VoltCart Support")
    del sent["Message-ID"]
    sent["Message-ID"] = original_id
    sent["References"] = f"<q1@example.org> {EARLIER}"
    return sent


def dsn(
    original: EmailMessage,
    *,
    recipient: str = "alice@example.org",
    headers_only: bool = False,
    diagnostic: str = "smtp; 550 5.1.1 <alice@example.org>: Recipient address rejected",
) -> bytes:
    """A delivery status notification for ``original`` (Postfix's layout)."""
    data = original.as_bytes(policy=policy.SMTP).decode()
    if headers_only:
        head = data.split("\r\n\r\n", 1)[0]
        returned_part = f"Content-Type: text/rfc822-headers\r\n\r\n{head}\r\n"
    else:
        returned_part = f"Content-Type: message/rfc822\r\n\r\n{data}"
    return (
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n"
        f"To: {SUPPORT}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <20261125.ABC@mx.example.org>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="DSN"\r\n'
        "\r\n--DSN\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "--DSN\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n"
        f"Action: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: {diagnostic}\r\n"
        f"\r\n--DSN\r\n{returned_part}\r\n--DSN--\r\n"
    ).encode()


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


# --- reading a bounce --------------------------------------------------------------------------


def test_a_bounce_names_the_returned_mail_not_the_earlier_ones_it_references() -> None:
    found = read_bounce(parsed(dsn(returned())))
    assert found.message_ids == (OURS,)
    assert found.recipient == "alice@example.org"
    assert found.status == "5.1.1"
    assert found.reason == (
        "alice@example.org: 5.1.1 smtp; 550 5.1.1 <alice@example.org>: Recipient address rejected"
    )
    mail_read = read_mail(dsn(returned()), own_address=SUPPORT)
    assert mail_read is not None and mail_read.noise is not None
    assert mail_read.bounce is not None and mail_read.bounce.message_ids == (OURS,)


def test_a_bounce_with_only_the_headers_or_only_in_reply_to_is_matched_too() -> None:
    assert read_bounce(parsed(dsn(returned(), headers_only=True))).message_ids == (OURS,)
    # A bare report (no returned part): the DSN's own In-Reply-To, when the server sets it.
    assert read_bounce(parsed(bounce(original_id=OURS))).message_ids == (OURS,)


# --- end to end --------------------------------------------------------------------------------


async def test_a_bounced_notice_fails_for_good_with_the_reason_on_the_ticket(
    db: Database, dovecot: Dovecot, smtp: SmtpServer
) -> None:
    channel = channel_for(dovecot, smtp)
    try:
        rig = await email_rig(db, channel, start=SUNDAY)  # nobody on duty: a ticket
        box = MailboxClient(dovecot)
        await box.deliver(raw(mail("I want to talk to a person", subject="Broken charger")))
        await wait_until(lambda: stored_rows(db, Ticket), within=30, what="a ticket")
        [ticket] = await stored_rows(db, Ticket)
        assert ticket.reference is not None
        reference = ticket.reference
        notice = await mail_where(smtp, lambda m: reference in body(m))
        # The subject the customer wrote under is kept with their words.
        [first] = await stored_rows(db, Message, Message.direction == Direction.IN)
        assert first.subject == "Broken charger"

        await box.deliver(dsn(notice))
        await wait_until(lambda: _all_seen(box, 2), within=30, what="the bounce read")

        async def failed() -> list[Message]:
            return await stored_rows(
                db, Message, Message.platform_message_id == notice["Message-ID"]
            )

        await wait_until(
            lambda: _delivery_is(failed(), Delivery.FAILED), within=30, what="the mail failed"
        )
        [row] = await failed()
        assert row.last_error is not None
        assert row.last_error.startswith("bounced: alice@example.org: 5.1.1 smtp; 550 5.1.1")
        [identity] = await stored_rows(db, ChannelIdentity, ChannelIdentity.channel == "email")
        assert identity.unreachable_reason == row.last_error[:200]
        events = await stored_rows(db, TicketEvent, TicketEvent.ticket_id == ticket.id)
        [bounced] = [e for e in events if e.kind == "bounce"]
        assert "alice@example.org" in bounced.detail and "5.1.1" in bounced.detail
        assert [a for a, _ in channel.ignored] == ["mailer-daemon@mx.example.org"]  # no reply
        assert len(await stored_rows(db, Message, Message.direction == Direction.IN)) == 1

        # What the agent sees on the conversation page: the subject and why it failed.
        await rig.add_agent("priya", password=PASSWORD)
        page = await console_page(rig, f"/console/c/{first.conversation_id}")
        assert "Subject: Broken charger" in page
        assert html.escape(row.last_error) in page
    finally:
        await channel.stop()


async def _delivery_is(rows: object, delivery: Delivery) -> bool:
    found = await rows  # type: ignore[misc]
    return bool(found) and all(r.delivery == delivery for r in found)

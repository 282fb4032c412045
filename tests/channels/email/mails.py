"""Real MIME built with the standard library, as mail clients and servers send it."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

SUPPORT = "support@example.com"


def mail(
    text: str | None = "Where is my order?",
    *,
    sender: str = "alice@example.org",
    name: str = "Alice",
    subject: str = "Where is my order?",
    html: str | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
    language: str | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((name, sender))
    message["To"] = formataddr(("VoltCart Support", SUPPORT))
    message["Subject"] = subject
    message["Message-ID"] = message_id or make_msgid(domain="example.org")
    message["Date"] = "Wed, 25 Nov 2026 11:30:00 +0530"
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    for name_, value in (headers or {}).items():
        message[name_] = value
    if text is not None:
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    if language:  # after the content: set_content drops the Content-* headers
        message["Content-Language"] = language
    for filename, mime, data in attachments:
        maintype, subtype = mime.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def raw(message: EmailMessage) -> bytes:
    """As it travels: RFC 2047 encoded words for non-ASCII headers, CRLF line ends."""
    return message.as_bytes(policy=policy.SMTP)


def bounce(to: str = SUPPORT, original_id: str = "<hd.0123456789ab.ff@example.com>") -> bytes:
    """A delivery status notification (RFC 3464) as Postfix sends it."""
    return (
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid(domain='mx.example.org')}\r\n"
        f"In-Reply-To: {original_id}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        "Final-Recipient: rfc822; nobody@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--B--\r\n"
    ).encode()


GMAIL_REPLY_TEXT = """Thanks, that helped!
Can I change the address?

On Wed, 25 Nov 2026 at 11:31, VoltCart Support <support@example.com>
wrote:

> You can track your order from the link in your confirmation email.
>
"""

GMAIL_REPLY_HTML = """<div dir="ltr">Thanks, that helped!<div>Can I change the address?</div></div>
<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Wed, 25 Nov 2026 at 11:31,
VoltCart Support &lt;support@example.com&gt; wrote:<br></div><blockquote class="gmail_quote">
You can track your order from the link in your confirmation email.</blockquote></div>
"""

OUTLOOK_REPLY_TEXT = """Still nothing arrived.

Regards,
Ravi
--\x20
Ravi Kumar | Purchasing
ACME Ltd.

________________________________
From: VoltCart Support <support@example.com>
Sent: Wednesday, November 25, 2026 11:31 AM
To: Ravi Kumar <ravi@example.org>
Subject: Re: Order 1042

You can track your order from the link in your confirmation email.
"""

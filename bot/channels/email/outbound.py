"""One reply as a mail: our Message-ID, the thread's headers, plain text and HTML, loop marks.

Pure: :func:`compose` builds an :class:`email.message.EmailMessage` from the reply and
what is known of its thread. Buttons become a numbered list the customer answers by
number (the engine maps "2" back to the second button).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate

from bot.messages import OutboundMessage

__all__ = ["ThreadContext", "compose", "reply_subject"]

MAX_REFERENCES = 20
"""The newest ids kept in References: enough for any client to thread, short enough to
stay far below header size limits in a long conversation."""


@dataclass(frozen=True, slots=True)
class ThreadContext:
    """What is known of a conversation's thread when replying into it."""

    message_ids: tuple[str, ...] = ()
    """The thread's Message-IDs, oldest first: the customer's and ours."""
    last_inbound: str | None = None
    """The customer's newest mail, which the reply answers (In-Reply-To)."""
    ticket_reference: str | None = None
    language: str | None = None
    subject: str | None = None


def reply_subject(subject: str | None, reference: str | None, fallback: str) -> str:
    """``Re: <their subject>`` with ``[HD-1042]`` in it once a ticket exists."""
    base = " ".join((subject or "").split()) or fallback
    if not base.lower().startswith(("re:", "aw:", "sv:", "antw:")):
        base = f"Re: {base}"
    if reference and f"[{reference.lower()}]" not in base.lower():
        base = f"{base} [{reference}]"
    return base


def compose(
    message: OutboundMessage,
    *,
    sender: tuple[str, str],
    to: str,
    message_id: str,
    thread: ThreadContext,
    subject: str,
    choose_prompt: str,
    links: dict[str, str] | None = None,
) -> EmailMessage:
    """The mail for one reply. Automatic ones (the bot's, notifications) say so.

    ``links`` (a button's payload -> URL): the buttons are answered on a web page (a
    survey's signed links) instead of by replying with a number."""
    mail = EmailMessage()
    mail["From"] = formataddr(sender)
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = message_id
    if thread.last_inbound:
        mail["In-Reply-To"] = thread.last_inbound
    references = list(dict.fromkeys(thread.message_ids))[-MAX_REFERENCES:]
    if references:
        mail["References"] = " ".join(references)
    if message.sender != "agent":
        # RFC 3834: other responders must not answer this one.
        mail["Auto-Submitted"] = "auto-replied"
        mail["X-Auto-Response-Suppress"] = "All"
    mail["X-Loop"] = sender[1]
    mail.set_content(_plain(message, choose_prompt, links), charset="utf-8")
    mail.add_alternative(_html(message, choose_prompt, thread.language, links), subtype="html")
    if thread.language:  # after the content: set_content drops Content-* headers
        mail["Content-Language"] = thread.language
    return mail


def _plain(message: OutboundMessage, prompt: str, links: dict[str, str] | None) -> str:
    text = message.text
    if message.buttons and links:
        options = "\n".join(f"{b.title}: {links[b.payload]}" for b in message.buttons)
        text = f"{text}\n\n{options}"
    elif message.buttons:
        options = "\n".join(f"{i}. {b.title}" for i, b in enumerate(message.buttons, start=1))
        text = f"{text}\n\n{options}\n\n{prompt}"
    return text + "\n"


def _html(
    message: OutboundMessage, prompt: str, language: str | None, links: dict[str, str] | None
) -> str:
    paragraphs = [p for p in message.text.split("\n\n") if p.strip()]
    body = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    if message.buttons and links:
        style = "display:inline-block;margin:4px;padding:8px 12px;border:1px solid #888"
        anchors = "".join(
            f'<a href="{html.escape(links[b.payload])}" style="{style}">{html.escape(b.title)}</a>'
            for b in message.buttons
        )
        body += f"<p>{anchors}</p>"
    elif message.buttons:
        items = "".join(f"<li>{html.escape(b.title)}</li>" for b in message.buttons)
        body += f"<ol>{items}</ol><p>{html.escape(prompt)}</p>"
    lang = f' lang="{html.escape(language)}"' if language else ""
    head = '<head><meta charset="utf-8"></head>'
    return f"<!DOCTYPE html><html{lang}>{head}<body>{body}</body></html>\n"

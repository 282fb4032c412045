"""A raw mail to what the bot needs of it: sender, words, attachments, thread headers.

A pure converter: bytes in, :class:`Mail` out, then :func:`to_inbound` with the
conversation the channel chose. Headers are decoded by the standard library
(RFC 2047 encoded words, RFC 2231 file names), bodies by their declared charset.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from bot.channels.email.bounces import Bounce, read_bounce
from bot.channels.email.noise import is_bounce, why_not_answer
from bot.channels.email.text import html_to_text, new_text
from bot.channels.email.threads import message_ids_in
from bot.messages import Attachment, InboundMessage

__all__ = ["Mail", "read_mail", "to_inbound"]

MAX_ID_CHARS = 200  # the stored platform id's column


@dataclass(frozen=True, slots=True)
class Mail:
    """One received mail. ``noise`` says why it must get no reply (None: a person wrote)."""

    message_id: str
    """The id the engine dedupes on: the Message-ID, or a hash when it has none or a
    longer one than the column holds (stable: a fetched-again mail gets the same)."""
    header_id: str | None
    address: str
    name: str | None
    subject: str
    text: str
    attachments: tuple[Attachment, ...]
    replied_to: tuple[str, ...]
    """The ids the mail answers: References (root first), then In-Reply-To."""
    language: str | None
    noise: str | None
    bounce: Bounce | None = None
    """What a bounce says of the mail it returns (bounces only)."""


def read_mail(raw: bytes, *, own_address: str) -> Mail | None:
    """Parse ``raw``; None when it has no sender address to answer."""
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    sender = _sender(mail)
    if sender is None:
        return None
    address, name = sender
    header_id = _header(mail, "Message-ID")
    header_id = header_id.strip() if header_id else None
    if header_id and len(header_id) <= MAX_ID_CHARS:
        platform_id = header_id
    else:
        digest = hashlib.sha256((header_id or "").encode() or raw).hexdigest()
        platform_id = f"sha256:{digest}"
    # References first: its first id is the thread's root, the mail that opened it.
    replied_to = message_ids_in(_header(mail, "References")) + message_ids_in(
        _header(mail, "In-Reply-To")
    )
    language = _header(mail, "Content-Language")
    noise = why_not_answer(mail, sender=address, own_address=own_address)
    return Mail(
        message_id=platform_id,
        header_id=header_id,
        address=address,
        name=name,
        subject=" ".join((_header(mail, "Subject") or "").split()),
        text=_body(mail),
        attachments=tuple(_attachments(mail)),
        replied_to=tuple(dict.fromkeys(replied_to)),
        language=language.split(",")[0].strip() if language else None,
        noise=noise,
        bounce=read_bounce(mail) if noise and is_bounce(mail, address) else None,
    )


def to_inbound(mail: Mail, *, conversation_key: str, payload: str | None = None) -> InboundMessage:
    """The mail as the engine takes it, in the conversation the channel chose."""
    raw: dict[str, Any] = {"subject": mail.subject, "message_id": mail.header_id}
    return InboundMessage(
        channel="email",
        conversation_key=conversation_key,
        user_id=mail.address,
        user_name=mail.name,
        language_hint=mail.language,
        text=mail.text or ("" if mail.attachments else mail.subject),
        message_id=mail.message_id,
        payload=payload,
        attachments=mail.attachments,
        subject=mail.subject or None,
        raw=raw,
    )


def _header(mail: EmailMessage, name: str) -> str | None:
    try:
        value = mail.get(name)
    except (ValueError, IndexError, TypeError):  # a header the parser cannot make sense of
        return None
    return str(value) if value is not None else None


def _sender(mail: EmailMessage) -> tuple[str, str | None] | None:
    # The customer is who the mail is from (answers go there too; Reply-To is not followed:
    # it would let one mail direct the bot's answers to a third party).
    try:
        header = mail.get("From")
        addresses: tuple[Address, ...] = getattr(header, "addresses", ()) if header else ()
    except (ValueError, IndexError, TypeError):
        return None
    for address in addresses:
        spec = address.addr_spec.strip().lower()
        if "@" in spec and len(spec) <= 180:
            return spec, address.display_name or None
    return None


def _body(mail: EmailMessage) -> str:
    """The new words of the best body part: text/plain first, else HTML read as text."""
    try:
        part = mail.get_body(preferencelist=("plain", "html"))
    except (KeyError, LookupError):
        part = None
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError):  # an unknown or lying charset
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_type() == "text/html":
        content = html_to_text(content)
    return new_text(content)


def _attachments(mail: EmailMessage) -> list[Attachment]:
    found: list[Attachment] = []
    for index, part in enumerate(mail.walk()):
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        named_file = filename is not None and part.get_content_maintype() != "text"
        if disposition != "attachment" and not named_file:
            continue  # a body part
        payload = part.get_payload(decode=True)
        kind = "photo" if part.get_content_maintype() == "image" else "document"
        found.append(
            Attachment(
                kind=kind,
                file_name=filename,
                mime_type=part.get_content_type(),
                size=len(payload) if isinstance(payload, bytes) else None,
                details={"part": index},
            )
        )
    return found

"""A bounce (delivery status notification) read back to the mail it returns.

Pure: :func:`read_bounce` finds which mail came back and why. The returned mail's own
``Message-ID`` is taken from the DSN's ``message/rfc822`` or ``text/rfc822-headers`` part
(RFC 3464), where every common server (Postfix, Exim, Exchange, Gmail) puts the original
or its headers; failing that, from the DSN's ``In-Reply-To``. Our own mail's References
name earlier mails of ours too, so a bare scan for our ids would blame the wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_string, policy
from email.message import EmailMessage, Message

from bot.channels.email.threads import message_ids_in

__all__ = ["Bounce", "read_bounce"]

_MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class Bounce:
    """Which mail came back (``message_ids``, the best guess first) and why."""

    message_ids: tuple[str, ...]
    recipient: str | None = None
    status: str | None = None
    diagnostic: str | None = None

    @property
    def reason(self) -> str:
        parts = [p for p in (self.status, self.diagnostic) if p]
        why = " ".join(parts) or "returned by the receiving server"
        if self.recipient:
            why = f"{self.recipient}: {why}"
        return " ".join(why.split())[:_MAX_REASON]


def read_bounce(mail: EmailMessage) -> Bounce:
    """What ``mail`` (a bounce) says of the mail it returns."""
    original: list[str] = []
    recipient = status = diagnostic = None
    for part in mail.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            for block in _blocks(part):
                if block.get("Final-Recipient") or block.get("Original-Recipient"):
                    recipient = recipient or _address(
                        block.get("Final-Recipient") or block.get("Original-Recipient")
                    )
                    status = status or _text(block.get("Status"))
                    diagnostic = diagnostic or _text(block.get("Diagnostic-Code"))
        elif kind == "message/rfc822":
            for inner in _payload_messages(part):
                original += message_ids_in(_text(inner.get("Message-ID")))
        elif kind == "text/rfc822-headers":
            headers = message_from_string(_content(part), policy=policy.compat32)
            original += message_ids_in(_text(headers.get("Message-ID")))
    fallback = message_ids_in(_text(mail.get("In-Reply-To")))
    return Bounce(
        message_ids=tuple(dict.fromkeys(original + fallback)),
        recipient=recipient,
        status=status,
        diagnostic=diagnostic,
    )


def _blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    # A part the parser left as text: its blank-line separated blocks are header blocks.
    text = payload if isinstance(payload, str) else ""
    return [message_from_string(b, policy=policy.compat32) for b in text.split("\n\n")]


def _payload_messages(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    return []


def _content(part: Message) -> str:
    try:
        content = part.get_content() if isinstance(part, EmailMessage) else part.get_payload()
    except (LookupError, UnicodeError, ValueError):
        return ""
    return content if isinstance(content, str) else ""


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _address(value: object) -> str | None:
    """``rfc822; nobody@example.org`` -> ``nobody@example.org``."""
    text = _text(value)
    if text is None:
        return None
    return text.split(";", 1)[-1].strip().strip("<>").lower()[:200] or None

"""Handing one mail to the SMTP server, with the outbox's notion of failure.

- a refused recipient (5xx on RCPT): :class:`RecipientUnreachable`, the address is bad;
- any other 5xx (the message or the sender refused, failed authentication): a permanent
  :class:`ChannelSendError`, sending it again cannot help;
- 4xx, timeouts, a server that cannot be reached: a transient ``ChannelSendError``, the
  outbox retries later.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from bot.channels import ChannelSendError, RecipientUnreachable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SmtpAccount:
    host: str
    port: int
    tls: str  # "starttls" | "ssl" | "none"
    user: str | None
    password: str | None
    timeout_s: float = 30.0
    tls_context: ssl.SSLContext | None = None


async def deliver(server: SmtpAccount, mail: EmailMessage, *, sender: str, to: str) -> None:
    """Send ``mail`` from ``sender`` (the envelope's MAIL FROM) to ``to``."""
    try:
        await aiosmtplib.send(
            mail,
            sender=sender,
            recipients=[to],
            hostname=server.host,
            port=server.port,
            username=server.user if server.password else None,
            password=server.password,
            use_tls=server.tls == "ssl",
            start_tls=server.tls == "starttls",
            timeout=server.timeout_s,
            tls_context=server.tls_context,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refused = exc.recipients[0] if exc.recipients else None
        if refused is not None and refused.code < 500:
            raise ChannelSendError(f"SMTP: {to} deferred: {refused.message}") from exc
        detail = refused.message if refused is not None else "refused"
        raise RecipientUnreachable(f"SMTP: {to} refused: {detail}") from exc
    except aiosmtplib.SMTPRecipientRefused as exc:
        if exc.code < 500:
            raise ChannelSendError(f"SMTP: {to} deferred: {exc.message}") from exc
        raise RecipientUnreachable(f"SMTP: {to} refused: {exc.message}") from exc
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise ChannelSendError(f"SMTP login refused: {exc.code}", permanent=True) from exc
    except aiosmtplib.SMTPResponseException as exc:
        permanent = exc.code >= 500
        raise ChannelSendError(f"SMTP {exc.code}: {exc.message}", permanent=permanent) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise ChannelSendError(f"SMTP server unreachable: {exc}") from exc

"""The email channel: a support mailbox read over IMAP, replies sent over SMTP.

A thin shell around :class:`MailboxReader` and :func:`deliver`: each new mail is read
(:mod:`.inbound`), filtered (:mod:`.noise`: no reply to machines, a limit per sender),
put in its conversation (:mod:`.threads`) and handed to the engine; the mailbox marks it
only once it is stored. Replies come back through the outbox as every channel's do and
leave as threaded mails (:mod:`.outbound`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Coroutine, Sequence
from typing import Any, Protocol

from bot.channels import MAX_TEXT_CHARS, ChannelSendError, OnMessage, bounded
from bot.channels.email.inbound import Mail, read_mail, to_inbound
from bot.channels.email.mailbox import ImapAccount, MailboxReader
from bot.channels.email.noise import SenderRateLimit
from bot.channels.email.outbound import ThreadContext, compose, reply_subject
from bot.channels.email.smtp import SmtpAccount, deliver
from bot.channels.email.survey_links import SurveyLinks
from bot.channels.email.threads import (
    address_of,
    conversation_key,
    our_message_id,
    thread_token,
    ticket_reference,
    token_in,
    token_of,
)
from bot.commands import HUMAN
from bot.i18n import Catalogue
from bot.messages import OutboundMessage
from bot.settings import ConfigError, EmailSettings

__all__ = ["EmailChannel", "ThreadDirectory", "email_channel"]

log = logging.getLogger(__name__)


class ThreadDirectory(Protocol):
    """What the stored history knows of email threads (wired in ``bot/app.py``)."""

    async def thread(self, conversation_key: str) -> ThreadContext:
        """The conversation's Message-IDs, ticket reference and language."""
        ...

    async def conversation_of_ticket(self, reference: str) -> str | None:
        """The email conversation a ticket belongs to, if it is one."""
        ...

    async def bounced(self, message_ids: Sequence[str], *, reason: str) -> bool:
        """One of ours (``message_ids``) came back: fail it for good; False if not ours."""
        ...


class _NoHistory:
    async def thread(self, conversation_key: str) -> ThreadContext:
        return ThreadContext()

    async def conversation_of_ticket(self, reference: str) -> str | None:
        return None

    async def bounced(self, message_ids: Sequence[str], *, reason: str) -> bool:
        return False


class EmailChannel:
    """Customers who write to the support address."""

    name = "email"

    def __init__(
        self,
        *,
        address: str,
        display_name: str,
        imap: ImapAccount,
        smtp: SmtpAccount,
        answer_faqs: bool = True,
        max_mails_per_sender_hour: int = 20,
        directory: ThreadDirectory | None = None,
        max_text_chars: int = MAX_TEXT_CHARS,
        catalogue: Catalogue | None = None,
        survey_links: SurveyLinks | None = None,
    ) -> None:
        self.address = address.lower()
        self.survey_links = survey_links
        """Survey questions as signed links to the bot's page; None: numbered replies."""
        self.domain = self.address.rpartition("@")[2]
        self.display_name = display_name
        self.smtp = smtp
        self.answer_faqs = answer_faqs
        self.max_text_chars = max_text_chars
        self.directory: ThreadDirectory = directory or _NoHistory()
        self.limit = SenderRateLimit(max_mails_per_sender_hour)
        self.reader = MailboxReader(imap, self._receive)
        self._catalogue = catalogue or Catalogue.load()
        self._on_message: OnMessage | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # The newest mail of each thread (subject, ids): the reply's headers without a
        # database read; after a restart the directory answers from the stored history.
        self._threads: OrderedDict[str, tuple[str, tuple[str, ...]]] = OrderedDict()
        self.ignored: list[tuple[str, str]] = []
        """(address, why) of the latest mails that got no reply (bounded; tests, logs)."""

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self, on_message: OnMessage) -> None:
        """Read the mailbox in the background: a mail server being down stops nothing else."""
        self._on_message = on_message
        self._runner = asyncio.create_task(self.reader.run(), name="email")

    async def wait_connected(self, timeout_s: float | None = None) -> None:
        await asyncio.wait_for(self.reader.connected.wait(), timeout_s)

    @property
    def connected(self) -> bool:
        return self.reader.connected.is_set()

    async def stop(self) -> None:
        if self._runner is not None:
            # Cancel until it ends: aioimaplib's timeouts can swallow one cancellation.
            while not self._runner.done():
                self._runner.cancel()
                await asyncio.wait({self._runner}, timeout=1.0)
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- inbound -------------------------------------------------------------------------

    async def _receive(self, raw: bytes) -> bool:
        """One mail from the mailbox; True once it is stored or deliberately dropped."""
        mail = read_mail(raw, own_address=self.address)
        if mail is None:
            log.warning("a mail without a sender address was skipped")
            return True
        if mail.bounce is not None:
            ours = [i for i in mail.bounce.message_ids if token_in([i], self.domain)]
            if ours:
                try:
                    await self.directory.bounced(ours, reason=mail.bounce.reason)
                except Exception:  # the database away: the mail stays unseen, read again
                    log.exception("the bounce of %s could not be recorded", ours[0])
                    return False
        if mail.noise is not None:
            self._ignore(mail.address, mail.noise)
            return True
        if not self.limit.allow(mail.address):
            self._ignore(mail.address, "rate limit")
            return True
        key = await self._conversation_of(mail)
        payload = None if self.answer_faqs else HUMAN
        fitted = bounded(
            to_inbound(mail, conversation_key=key, payload=payload),
            max_text_chars=self.max_text_chars,
        )
        if fitted is None:
            self._ignore(mail.address, "not storable")
            return True
        self._remember(key, mail)
        assert self._on_message is not None
        stored = asyncio.Event()

        async def on_stored() -> None:
            stored.set()

        turn = self._spawn(self._on_message(fitted.inbound, on_stored=on_stored))
        waiting = asyncio.ensure_future(stored.wait())
        try:
            await asyncio.wait({turn, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        if not stored.is_set():
            log.warning("mail %s was not stored; it stays unseen", mail.message_id)
        return stored.is_set()

    async def _conversation_of(self, mail: Mail) -> str:
        """Ours in its headers, else a ticket reference in its subject, else its own thread."""
        token = token_in(mail.replied_to, self.domain)
        if token is not None:
            return conversation_key(mail.address, token)
        reference = ticket_reference(mail.subject)
        if reference is not None:
            key = await self.directory.conversation_of_ticket(reference)
            if key is not None and address_of(key) == mail.address:
                return key
        # A follow-up to the customer's own first mail: the thread's root opened it.
        root = mail.replied_to[0] if mail.replied_to else mail.message_id
        return conversation_key(mail.address, thread_token(root))

    def _remember(self, key: str, mail: Mail) -> None:
        ids = (*mail.replied_to, mail.header_id) if mail.header_id else mail.replied_to
        self._threads[key] = (mail.subject, ids)
        self._threads.move_to_end(key)
        while len(self._threads) > 10_000:
            self._threads.popitem(last=False)

    def _ignore(self, address: str, why: str) -> None:
        log.info("no reply to a mail from %s: %s", address, why)
        self.ignored.append((address, why))
        del self.ignored[:-100]

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- outbound ------------------------------------------------------------------------

    async def send(self, conversation_key: str, message: OutboundMessage) -> str | None:
        """Mail one reply into its thread; returns its Message-ID (the stored platform id)."""
        to = address_of(conversation_key)
        if to is None:
            raise ChannelSendError(
                f"not an email conversation key: {conversation_key!r}", permanent=True
            )
        thread = await self._thread(conversation_key)
        language = thread.language or self._catalogue.default_language
        message_id = our_message_id(token_of(conversation_key), self.domain)
        mail = compose(
            message,
            sender=(self.display_name, self.address),
            to=to,
            message_id=message_id,
            thread=thread,
            subject=reply_subject(
                thread.subject, thread.ticket_reference, fallback=self.display_name
            ),
            choose_prompt=self._catalogue.get("choose_number", language),
            links=self.survey_links.for_buttons(message.buttons) if self.survey_links else None,
        )
        await deliver(self.smtp, mail, sender=self.address, to=to)
        return message_id

    async def _thread(self, key: str) -> ThreadContext:
        stored = await self.directory.thread(key)
        subject, ids = self._threads.get(key, (None, ()))
        merged = tuple(dict.fromkeys((*ids, *stored.message_ids)))
        last = ids[-1] if ids else stored.last_inbound
        return ThreadContext(
            message_ids=merged,
            last_inbound=last,
            ticket_reference=stored.ticket_reference,
            language=stored.language,
            subject=subject or stored.subject,
        )


def email_channel(
    settings: EmailSettings,
    *,
    imap_password: str,
    smtp_password: str | None,
    max_text_chars: int,
    catalogue: Catalogue,
    survey_links: SurveyLinks | None = None,
) -> EmailChannel:
    """The channel as ``channels.email`` configures it (``address`` and ``imap_host`` set)."""
    if settings.address is None or settings.imap_host is None:
        raise ConfigError("channels.email needs address and imap_host")
    user = settings.imap_user or settings.address
    return EmailChannel(
        address=settings.address,
        display_name=settings.display_name,
        imap=ImapAccount(
            host=settings.imap_host,
            port=settings.imap_port,
            tls=settings.imap_tls,
            user=user,
            password=imap_password,
            mailbox=settings.mailbox,
            processed_folder=settings.processed_folder,
            idle=settings.idle,
            idle_s=settings.idle_s,
            poll_s=settings.poll_s,
        ),
        smtp=SmtpAccount(
            host=settings.smtp_host or settings.imap_host,
            port=settings.smtp_port,
            tls=settings.smtp_tls,
            user=settings.smtp_user or user,
            # Most providers take the same (app) password for both.
            password=smtp_password or imap_password,
            timeout_s=settings.smtp_timeout_s,
        ),
        answer_faqs=settings.answer_faqs,
        max_mails_per_sender_hour=settings.max_mails_per_sender_hour,
        max_text_chars=max_text_chars,
        catalogue=catalogue,
        survey_links=survey_links,
    )

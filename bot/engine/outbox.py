"""The outbox: every reply is stored before it is sent and marked sent after.

A reply that could not be sent stays ``pending`` for the retry loop (every 5 s, up to
:data:`MAX_SEND_ATTEMPTS` attempts); a channel can say a failure is permanent
(``ChannelSendError(permanent=True)``, :class:`~bot.channels.RecipientUnreachable`),
and a recipient who is simply not connected (a closed web chat tab) waits uncounted.
Sends of one conversation hold its lock, so they keep their order and a reply picked up
by two senders at once goes out once.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels import (
    Channel,
    ChannelRegistry,
    ChannelSendError,
    RecipientOffline,
    RecipientUnreachable,
)
from bot.messages import Button, OutboundMessage
from bot.storage.database import Database
from bot.storage.models import Agent, Conversation, Message
from bot.storage.repositories import ConversationRepository, MessageRepository

log = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class Sent:
    platform_id: str | None
    """The platform's id of the reply (``None`` where it has none: web chat)."""


class Outcome(enum.Enum):
    """A reply that was not sent: waits for the retry loop, or was given up."""

    RETRY = "retry"
    GIVEN_UP = "given up"


Hold = Callable[[tuple[str, str]], AbstractAsyncContextManager[None]]
Offline = Callable[[str, str], None]
"""Told (channel, conversation key) when a recipient is not connected to this worker: with
several workers, another may hold the customer's web chat socket (bot/app.py asks it)."""


class Outbox:
    def __init__(
        self,
        *,
        db: Database,
        channels: ChannelRegistry,
        hold: Hold,
        on_offline: Offline | None = None,
    ) -> None:
        self.db = db
        self.channels = channels
        self._hold = hold
        self._on_offline = on_offline

    async def store_outbound(
        self,
        session: AsyncSession,
        conversation: Conversation,
        replies: Sequence[OutboundMessage],
        *,
        language: str | None,
        agent_id: int | None = None,
    ) -> list[int]:
        """Put messages for the customer in the outbox, in the caller's transaction."""
        messages = MessageRepository(session)
        rows = [
            await messages.add_outbound(
                conversation=conversation,
                text=reply.text,
                buttons=[{"title": b.title, "payload": b.payload} for b in reply.buttons],
                sender=reply.sender,
                language=language,
                agent_id=agent_id,
            )
            for reply in replies
        ]
        return [row.id for row in rows]

    async def deliver(self, row_ids: Sequence[int]) -> int:
        """Send outbox rows stored by :meth:`store_outbound` once their transaction committed.

        This is how an agent's message reaches the customer, on whatever channel the
        conversation is on; returns how many went out now (the rest stay for the retry).
        """
        if not row_ids:
            return 0
        async with self.db.transaction() as session:
            work = []
            for row_id in row_ids:
                row = await MessageRepository(session).get(row_id)
                owner = (
                    await ConversationRepository(session).get(row.conversation_id) if row else None
                )
                if row is not None and owner is not None:
                    reply = await _as_outbound(session, row)
                    work.append((row.id, row.channel, owner.conversation_key, reply))
        sent = 0
        for row_id, channel_name, key, reply in work:
            async with self._hold((channel_name, key)):
                sent += await self.send(row_id, channel_name, key, reply)
        return sent

    async def send(
        self,
        row_id: int,
        channel_name: str,
        conversation_key: str,
        reply: OutboundMessage,
        *,
        fresh: bool = False,
    ) -> bool:
        """Send one stored reply and mark it sent; the caller holds the conversation's line.

        ``fresh``: the caller's turn committed the row just now, in its line, right after
        storing the customer's message (which made the customer reachable again): it is
        pending and nobody else can have sent it, so it is not read back first.
        """
        sent = await self.send_all([(row_id, reply)], channel_name, conversation_key, fresh=fresh)
        return bool(sent)

    async def send_all(
        self,
        rows: Sequence[tuple[int, OutboundMessage]],
        channel_name: str,
        conversation_key: str,
        *,
        fresh: bool = False,
    ) -> int:
        """Send stored replies of one conversation in order; returns how many went out.

        Those sent are marked in one transaction after the last (or before a failure is
        recorded): a crash in between sends them again at the next start, as a crash
        between a send and its mark always did (web chat shows a reply id once).
        """
        channel = self.channels.get(channel_name)
        if channel is None:
            log.warning(
                "no channel '%s' running; %d replies stay in the outbox", channel_name, len(rows)
            )
            return 0
        sent: list[tuple[int, str | None]] = []
        try:
            for row_id, reply in rows:
                if not fresh and not await self._still_to_send(row_id, channel_name):
                    continue
                outcome = await self._send_one(
                    channel, channel_name, conversation_key, row_id, reply
                )
                if isinstance(outcome, Sent):
                    sent.append((row_id, outcome.platform_id))
                elif outcome is Outcome.RETRY:
                    break  # the rest wait behind it for the retry loop: order per conversation
        finally:
            if sent:
                async with self.db.transaction() as session:
                    await MessageRepository(session).mark_all_sent(sent)
        return len(sent)

    async def _still_to_send(self, row_id: int, channel_name: str) -> bool:
        async with self.db.transaction() as session:
            pending, unreachable = await MessageRepository(session).sendable(row_id)
        if not pending:
            return False  # sent meanwhile (the retry loop and a turn both had it)
        if unreachable:
            await self._record_failure(
                row_id, "customer unreachable on this channel", permanent=True
            )
            return False
        return True

    async def _send_one(
        self,
        channel: Channel,
        channel_name: str,
        conversation_key: str,
        row_id: int,
        reply: OutboundMessage,
    ) -> Sent | Outcome:
        try:
            platform_id = await channel.send(conversation_key, replace(reply, reply_id=str(row_id)))
        except RecipientOffline:
            if self._on_offline is not None:
                self._on_offline(channel_name, conversation_key)
            return Outcome.RETRY
        except RecipientUnreachable as exc:
            log.warning("%s/%s unreachable: %s", channel_name, conversation_key, exc)
            await self._mark_unreachable(channel_name, conversation_key, str(exc))
            await self._record_failure(row_id, str(exc), permanent=True)
            return Outcome.RETRY  # the next replies fail the same way, once each
        except ChannelSendError as exc:
            await self._record_failure(row_id, str(exc), permanent=exc.permanent)
            return Outcome.GIVEN_UP if exc.permanent else Outcome.RETRY
        except Exception as exc:  # a platform outage: keep the reply for the retry loop
            log.warning("sending reply %d on %s failed: %s", row_id, channel_name, exc)
            await self._record_failure(row_id, f"{type(exc).__name__}: {exc}", permanent=False)
            return Outcome.RETRY
        return Sent(platform_id)

    async def _mark_unreachable(self, channel_name: str, conversation_key: str, why: str) -> None:
        async with self.db.transaction() as session:
            conversations = ConversationRepository(session)
            conversation = await conversations.find(
                channel=channel_name, conversation_key=conversation_key
            )
            if conversation is not None:
                await conversations.set_unreachable(conversation, reason=why)

    async def _record_failure(self, row_id: int, error: str, *, permanent: bool) -> None:
        async with self.db.transaction() as session:
            messages = MessageRepository(session)
            row = await messages.get(row_id)
            give_up = permanent or (row is not None and row.attempts + 1 >= MAX_SEND_ATTEMPTS)
            await messages.mark_attempt_failed(row_id, error=error, give_up=give_up)
        if give_up:
            log.error("reply %d given up after error: %s", row_id, error)

    async def flush(
        self, *, channel: str | None = None, conversation_key: str | None = None
    ) -> int:
        """Send replies that are stored but not yet delivered; returns how many went out.

        Each conversation's replies go in order, holding its line, and one that cannot go
        now holds back the later ones (order per conversation, as in a turn)."""
        async with self.db.transaction() as session:
            conversation_id = None
            if channel is not None and conversation_key is not None:
                conversation = await ConversationRepository(session).find(
                    channel=channel, conversation_key=conversation_key
                )
                if conversation is None:
                    return 0
                conversation_id = conversation.id
            rows = await MessageRepository(session).pending_outbound(
                channel=channel, conversation_id=conversation_id
            )
            work: dict[tuple[str, str], list[tuple[int, OutboundMessage]]] = {}
            for row in rows:
                owner = await ConversationRepository(session).get(row.conversation_id)
                if owner is not None:
                    reply = await _as_outbound(session, row)
                    work.setdefault((row.channel, owner.conversation_key), []).append(
                        (row.id, reply)
                    )
        sent = 0
        for (channel_name, key), replies in work.items():
            async with self._hold((channel_name, key)):
                sent += await self.send_all(replies, channel_name, key)
        return sent

    async def pending_before(
        self, conversation_id: int, row_id: int
    ) -> list[tuple[int, OutboundMessage]]:
        """The conversation's replies stored before ``row_id`` and not sent yet, oldest
        first: a dead worker's, or ones that met a platform outage. A turn sends them
        before its own (it holds the conversation's line, so nobody else sends them)."""
        async with self.db.transaction() as session:
            rows = await MessageRepository(session).pending_outbound(
                conversation_id=conversation_id, before=row_id
            )
            return [(row.id, await _as_outbound(session, row)) for row in rows]


async def _as_outbound(session: AsyncSession, row: Message) -> OutboundMessage:
    buttons = tuple(Button(b["title"], b["payload"]) for b in row.buttons or [])
    # An agent's reply carries the agent's name: the customer sees who answers.
    agent = await session.get(Agent, row.agent_id) if row.agent_id is not None else None
    return OutboundMessage(
        row.text,
        buttons=buttons,
        sender=row.sender,
        sender_name=agent.name if agent is not None else None,
    )

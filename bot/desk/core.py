"""What every part of the agent desk shares: its wiring, lookups, and how it talks.

:class:`DeskCore` holds the database, the customer line (the engine's outbox), the
phrase catalogue, the policy, the clock and the event fan-out. It is one object,
passed to :class:`~bot.desk.reception.Reception` (the engine's side: admitting,
timing out) and to :class:`~bot.desk.actions.AgentActions` (the agents' actions), so
both read the same clock and publish on the same events.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.desk.policy import Clock, CustomerLine, HandoffPolicy, NotFound, SystemClock
from bot.desk.routing import AgentLoad, loads
from bot.events import DeskEvent, DeskEvents, EventKind
from bot.i18n import Catalogue
from bot.messages import Button, OutboundMessage
from bot.storage.agent_desk import QueueRepository
from bot.storage.database import Database
from bot.storage.models import Agent, Conversation, Message, aware
from bot.storage.repositories import AgentRepository, ConversationRepository, MessageRepository
from bot.surveys.asking import Phrases
from bot.surveys.plan import SurveyPlan


class DeskCore:
    """The desk's shared state and the small steps both of its sides take."""

    def __init__(
        self,
        *,
        db: Database,
        line: CustomerLine,
        catalogue: Catalogue,
        brand: str,
        policy: HandoffPolicy,
        clock: Clock | None = None,
        events: DeskEvents | None = None,
        surveys: SurveyPlan | None = None,
    ) -> None:
        self.db = db
        self.line = line
        self.catalogue = catalogue
        self.brand = brand
        self.policy = policy
        self.clock: Clock = clock or SystemClock()
        # Not `events or ...`: a bus with no subscribers yet is empty, hence falsy.
        self.events = events if events is not None else DeskEvents()
        self.surveys = surveys if surveys is not None else SurveyPlan.default()
        self.email_notices: frozenset[str] = frozenset()
        """With ``chat_reply`` in it, an agent's reply in a chat is recorded for the email
        notice job, which mails it if the chat cannot take it (the composition root sets
        it from ``channels.email.notices.events`` when the email channel runs)."""

    async def agent_loads(self, session: AsyncSession) -> list[AgentLoad]:
        return await self.loads(session, self.clock.now())

    async def loads(self, session: AsyncSession, now: datetime) -> list[AgentLoad]:
        queue = QueueRepository(session)
        return loads(
            await queue.agents(),
            await queue.active_counts(),
            now=now,
            timeout=self.policy.presence_timeout,
        )

    def phrase(self, key: str, language: str, **values: object) -> str:
        return self.catalogue.get(key, language, brand=self.brand, **values)

    def language(self, conversation: Conversation) -> str:
        language = conversation.language
        return (
            language
            if language and self.catalogue.has(language)
            else self.catalogue.default_language
        )

    async def tell(
        self,
        session: AsyncSession,
        conversation: Conversation,
        key: str,
        *,
        buttons: tuple[Button, ...] = (),
        **values: object,
    ) -> list[int]:
        """Store a phrase for the customer in this transaction; returns the outbox rows."""
        language = self.language(conversation)
        message = OutboundMessage(self.phrase(key, language, **values), buttons=buttons)
        return await self.line.store_outbound(session, conversation, [message], language=language)

    @property
    def phrases(self) -> Phrases:
        return Phrases(self.catalogue, self.brand)

    async def agent(self, session: AsyncSession, agent_id: int) -> Agent:
        """The agent, or :class:`NotFound`."""
        agent = await AgentRepository(session).get(agent_id)
        if agent is None:
            raise NotFound("No such agent.")
        return agent

    async def conversation(self, session: AsyncSession, conversation_id: int) -> Conversation:
        conversation = await ConversationRepository(session).get(conversation_id)
        if conversation is None:
            raise NotFound("No such conversation.")
        return conversation

    async def locked(self, session: AsyncSession, conversation_id: int) -> Conversation:
        """The conversation, locked for this transaction, or :class:`NotFound`."""
        conversation = await ConversationRepository(session).get_for_update(conversation_id)
        if conversation is None:
            raise NotFound("No such conversation.")
        return conversation

    async def lock_agent(self, session: AsyncSession, agent_id: int) -> None:
        """Hold the agent's row until the transaction ends, before counting their chats.

        Counting an agent's active chats and giving them one more is then one step per
        agent, so ``max_chats`` holds with several workers: two claims (two browser
        tabs), or a transfer and a claim, cannot both count one below the maximum. On
        PostgreSQL the row lock makes the other transaction wait and count again after
        this one commits (READ COMMITTED reads anew per statement); on SQLite every
        transaction already holds the database's write lock (``BEGIN IMMEDIATE``), across
        processes too, so the count and the move cannot interleave anyway.

        Lock order: the conversation first (:meth:`locked`, or the customer's turn), then
        the agent; nothing locks an agent and then a conversation, so the two cannot
        deadlock. An agent no longer there locks nothing (and has no load to count).
        """
        await AgentRepository(session).lock(agent_id)

    async def owner_name(self, session: AsyncSession, conversation: Conversation) -> str:
        owner = (
            await AgentRepository(session).get(conversation.agent_id)
            if conversation.agent_id
            else None
        )
        return owner.name if owner else "another agent"

    def changed(self, conversation_id: int) -> None:
        """Tell every open desk that this chat (and so the queue) changed."""
        self.events.publish(DeskEvent(EventKind.CONVERSATION, conversation_id))
        self.events.publish(DeskEvent(EventKind.QUEUE))

    async def send(self, row_ids: Sequence[int], *, agent: str | None = None) -> None:
        """Deliver committed outbox rows, then show them on every open desk."""
        await self.line.deliver(row_ids)
        await self._publish_messages(row_ids, agent=agent)

    async def _publish_messages(self, row_ids: Sequence[int], *, agent: str | None = None) -> None:
        if not row_ids:
            return
        async with self.db.transaction() as session:
            messages = MessageRepository(session)
            for row_id in row_ids:
                row = await messages.get(row_id)
                if row is not None:
                    data = {"message": message_json(row, agent=agent)}
                    self.events.publish(DeskEvent(EventKind.MESSAGE, row.conversation_id, data))


def message_json(message: Message, *, agent: str | None = None) -> dict[str, object]:
    """A message as the console shows it (text is text: the browser never parses it)."""
    ranking = (message.nlu or {}).get("ranking") or []
    return {
        "id": message.id,
        "direction": message.direction.value,
        "sender": message.sender,
        "agent": agent,
        "text": message.text,
        "language": message.language,
        "intent": message.intent,
        "confidence": message.confidence,
        "guesses": [
            {"name": str(item.get("name")), "confidence": item.get("confidence")}
            for item in ranking[:3]
            if isinstance(item, dict)
        ],
        "delivery": message.delivery.value,
        "created_at": aware(message.created_at).isoformat(),
    }

"""The agent desk: the one service agents act through (the web console, Slack threads).

:class:`Desk` is built from three small parts that share one :class:`DeskCore`
(database, customer line, phrases, policy, clock, events):

- :class:`~bot.desk.reception.Reception`, the engine's side: it admits newly queued
  chats, hears customer messages while a human has the chat, and times out chats
  nobody claims (it is the engine's :class:`~bot.handoff.HandoffDesk`);
- :class:`~bot.desk.actions.AgentActions`, what agents do: claim, reply, hand back,
  resolve, transfer, note, presence.

The console, the API, the Slack desk and the engine hold the :class:`Desk` and never
need to know which part answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.desk.actions import AgentActions
from bot.desk.canned import CannedReplies
from bot.desk.core import DeskCore
from bot.desk.policy import Clock, CustomerLine, HandoffPolicy
from bot.desk.reception import Reception
from bot.desk.routing import AgentLoad
from bot.events import DeskEvents
from bot.i18n import Catalogue
from bot.messages import OutboundMessage
from bot.storage.database import Database
from bot.storage.models import AgentPresence, Conversation, Customer, Message, Ticket
from bot.surveys.plan import SurveyPlan


class Desk:
    """Everything an agent can do, from any desk, and the engine's way into the queue."""

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
        self.core = DeskCore(
            db=db,
            line=line,
            catalogue=catalogue,
            brand=brand,
            policy=policy,
            clock=clock,
            events=events,
            surveys=surveys,
        )
        self.canned = CannedReplies(default_language=catalogue.default_language)
        """The team's saved replies (bot/desk/canned.py); ``bot.app`` loads the file."""
        self.reception = Reception(self.core)
        self.actions = AgentActions(self.core, self.reception)

    # --- what the desk's users read ----------------------------------------------------------

    @property
    def db(self) -> Database:
        return self.core.db

    @property
    def clock(self) -> Clock:
        return self.core.clock

    @property
    def events(self) -> DeskEvents:
        return self.core.events

    @property
    def policy(self) -> HandoffPolicy:
        return self.core.policy

    @property
    def catalogue(self) -> Catalogue:
        return self.core.catalogue

    async def agent_loads(self, session: AsyncSession) -> list[AgentLoad]:
        """Every agent with their open chats and whether they are online now."""
        return await self.core.agent_loads(session)

    # --- the engine's side (HandoffDesk) and the clock ---------------------------------------

    @property
    def detects_frustration(self) -> bool:
        return self.reception.detects_frustration

    async def admit(
        self,
        session: AsyncSession,
        conversation: Conversation,
        *,
        replies: Sequence[OutboundMessage],
        language: str,
    ) -> list[OutboundMessage]:
        return await self.reception.admit(session, conversation, replies=replies, language=language)

    async def customer_message(self, conversation: Conversation, message: Message) -> None:
        await self.reception.customer_message(conversation, message)

    async def turn_finished(
        self, conversation_id: int, *, state_changed: bool, changed_tickets: Sequence[int] = ()
    ) -> None:
        await self.reception.turn_finished(
            conversation_id, state_changed=state_changed, changed_tickets=changed_tickets
        )

    async def sweep(self) -> int:
        """Turn chats queued past the timeout into tickets; returns how many."""
        return await self.reception.sweep()

    async def update_positions(self) -> int:
        """Tell waiting customers their new place in the queue; returns how many were told."""
        return await self.reception.update_positions()

    # --- the agents' actions -----------------------------------------------------------------

    async def claim(self, agent_id: int, conversation_id: int) -> None:
        """Take a queued chat (or one the bot is handling). Exactly one agent wins."""
        await self.actions.claim(agent_id, conversation_id)

    async def take_next(self, agent_id: int) -> int | None:
        """Claim the chat routing gives this agent next; None when the queue is empty."""
        return await self.actions.take_next(agent_id)

    async def canned_for(self, agent_id: int, conversation_id: int) -> list[tuple[str, str, str]]:
        """The saved replies as (id, title, text) for this chat: in the customer's language,
        with the customer's name, the chat's latest ticket and the agent's name filled in."""
        if not self.canned.replies:
            return []
        async with self.db.transaction() as session:
            agent = await self.core.agent(session, agent_id)
            conversation = await self.core.conversation(session, conversation_id)
            customer = await session.get(Customer, conversation.customer_id)
            reference = await session.scalar(
                select(Ticket.reference)
                .where(Ticket.conversation_id == conversation_id)
                .order_by(Ticket.id.desc())
                .limit(1)
            )
            language = self.core.language(conversation)
            values = {
                "customer_name": customer.display_name if customer else None,
                "ticket_reference": reference,
                "agent_name": agent.name,
            }
        rendered = []
        for reply in self.canned.replies.values():
            text = self.canned.render(reply.id, language, **values)
            assert text is not None
            rendered.append((reply.id, reply.title, text))
        return rendered

    async def reply(self, agent_id: int, conversation_id: int, text: str) -> None:
        """Send the agent's message to the customer on whatever channel they use."""
        await self.actions.reply(agent_id, conversation_id, text)

    async def hand_back(self, agent_id: int, conversation_id: int) -> None:
        """Return the chat to the bot, which greets the customer again."""
        await self.actions.hand_back(agent_id, conversation_id)

    async def resolve(self, agent_id: int, conversation_id: int) -> None:
        """Close the chat and ask the customer for a CSAT rating."""
        await self.actions.resolve(agent_id, conversation_id)

    async def transfer(self, agent_id: int, conversation_id: int, to_agent_id: int) -> None:
        """Give an owned chat to a colleague who is online and has room for it."""
        await self.actions.transfer(agent_id, conversation_id, to_agent_id)

    async def note(self, agent_id: int, conversation_id: int, text: str) -> None:
        """An internal note: visible to agents, never sent to the customer."""
        await self.actions.note(agent_id, conversation_id, text)

    async def set_presence(self, agent_id: int, presence: AgentPresence) -> None:
        await self.actions.set_presence(agent_id, presence)

    async def heartbeat(self, agent_id: int) -> None:
        """The agent's console is open: keep them counted as present."""
        await self.actions.heartbeat(agent_id)

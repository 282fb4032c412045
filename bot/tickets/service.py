"""The ticket service: what agents (console, API) do to tickets, and the SLA/close sweep.

Every change is a ticket event (who, when, what). What the customer is told goes
through the outbox (:class:`~bot.desk.policy.CustomerLine`) in the same transaction
as the change, then is sent, in the customer's language, on their own channel.
SLA warnings and breaches go to every :class:`SlaNotifier` (the console's desk events
always; the Slack agents channel when the Slack desk registers one).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot.commands import is_command
from bot.desk.policy import (
    Clock,
    Conflict,
    CustomerLine,
    DeskError,
    NotFound,
    SystemClock,
    clean_text,
)
from bot.events import DeskEvent, DeskEvents, EventKind
from bot.i18n import Catalogue
from bot.messages import OutboundMessage
from bot.ports import TurnView
from bot.storage.database import Database
from bot.storage.models import Agent, Conversation, Customer, Ticket, TicketStatus
from bot.storage.notices import NoticeStore
from bot.storage.repositories import ConversationRepository, TicketRepository
from bot.storage.tickets import TicketStore
from bot.surveys.asking import Phrases, ask_survey
from bot.surveys.plan import Occasion, SurveyPlan
from bot.tickets.alerts import SlaAlert, SlaNotifier, alerts_due
from bot.tickets.rules import (
    TicketPolicy,
    can_move,
    find_reference,
    pause_sla,
    resume_sla,
    stamp_sla,
)
from bot.tickets.sla import PRIORITIES

log = logging.getLogger(__name__)

__all__ = ["SlaAlert", "SlaNotifier", "TicketService"]

MAX_TEXT = 4000


class TicketService:
    def __init__(
        self,
        *,
        db: Database,
        line: CustomerLine,
        catalogue: Catalogue,
        brand: str,
        policy: TicketPolicy,
        events: DeskEvents | None = None,
        clock: Clock | None = None,
        surveys: SurveyPlan | None = None,
    ) -> None:
        self.db = db
        self.line = line
        self.catalogue = catalogue
        self.brand = brand
        self.policy = policy
        self.events = events if events is not None else DeskEvents()  # empty is falsy
        self.clock: Clock = clock or SystemClock()
        self.notifiers: list[SlaNotifier] = []
        self.surveys = surveys if surveys is not None else SurveyPlan.default()
        self.email_notices: frozenset[str] = frozenset()
        """The events (answered, needs_input, resolved) whose notifications on a chat
        channel are recorded for the email notice job (bot/tickets/email_notices.py)."""

    # --- creating ---------------------------------------------------------------------------

    async def create(
        self,
        *,
        subject: str,
        description: str,
        priority: str,
        actor: str,
        customer_id: int | None = None,
        customer_name: str | None = None,
        contact: str | None = None,
        language: str | None = None,
    ) -> int:
        """A ticket opened by an agent or an API client; returns its id."""
        subject = clean_text(subject, limit=300, what="subject")
        if priority not in PRIORITIES:
            raise DeskError(f"priority must be one of {', '.join(PRIORITIES)}")
        async with self.db.transaction() as session:
            if customer_id is None:
                customer = Customer(display_name=customer_name, language=language)
                session.add(customer)
                await session.flush()
                customer_id = customer.id
            elif await session.get(Customer, customer_id) is None:
                raise NotFound("No such customer.")
            ticket = await TicketRepository(session).create(
                customer_id=customer_id,
                conversation_id=None,
                subject=subject,
                description=description[: MAX_TEXT * 4],
                language=language,
                actor=actor,
                priority=priority,
            )
            ticket.created_at = self.clock.now()
            ticket.contact = contact
            stamp_sla(ticket, self.policy.sla)
            ticket_id = ticket.id
        self._changed(ticket_id)
        return ticket_id

    # --- agent actions ------------------------------------------------------------------------

    async def assign(self, ticket_id: int, assignee_id: int | None, *, actor: str) -> None:
        async with self.db.transaction() as session:
            ticket = await self._ticket(session, ticket_id)
            changed = await self._assign(session, ticket, assignee_id, actor=actor)
        if changed:
            self._changed(ticket_id)

    async def set_priority(self, ticket_id: int, priority: str, *, actor: str) -> None:
        async with self.db.transaction() as session:
            ticket = await self._ticket(session, ticket_id)
            changed = self._set_priority(session, ticket, priority, actor=actor)
        if changed:
            self._changed(ticket_id)

    async def update(
        self,
        ticket_id: int,
        *,
        actor: str,
        priority: str | None = None,
        assignee_id: int | None = None,
        unassign: bool = False,
        status: TicketStatus | None = None,
    ) -> None:
        """Several changes at once (the API's PATCH), all or nothing: one transaction, so
        a refused status move leaves the priority and the assignee as they were."""
        if unassign and assignee_id is not None:
            raise DeskError("Give an assignee or unassign, not both.")
        async with self.db.transaction() as session:
            ticket = await self._ticket(session, ticket_id)
            if priority is not None:
                self._set_priority(session, ticket, priority, actor=actor)
            if assignee_id is not None or unassign:
                await self._assign(session, ticket, assignee_id, actor=actor)
            rows: list[int] = []
            if status is not None and status != ticket.status:
                if not can_move(ticket.status, status):
                    raise Conflict(
                        f"A {ticket.status.value} ticket cannot be moved to {status.value}."
                    )
                rows = await self._move(session, ticket, status, actor=actor)
        await self.line.deliver(rows)
        self._changed(ticket_id)

    async def set_status(self, ticket_id: int, status: TicketStatus, *, actor: str) -> None:
        """Move the ticket; the customer hears about ``pending`` and ``resolved``."""
        async with self.db.transaction() as session:
            ticket = await self._ticket(session, ticket_id)
            if not can_move(ticket.status, status):
                raise Conflict(f"A {ticket.status.value} ticket cannot be moved to {status.value}.")
            rows = await self._move(session, ticket, status, actor=actor)
        await self.line.deliver(rows)
        self._changed(ticket_id)

    async def public_reply(
        self,
        ticket_id: int,
        text: str,
        *,
        actor: str,
        agent_id: int | None = None,
        then: TicketStatus = TicketStatus.PENDING,
    ) -> None:
        """Answer the customer on their channel; the ticket then waits on them (``pending``)."""
        text = clean_text(text, limit=MAX_TEXT, what="reply")
        async with self.db.transaction() as session:
            ticket = await self._ticket(session, ticket_id)
            now = self.clock.now()
            TicketStore(session).add_event(ticket, kind="public_reply", actor=actor, detail=text)
            if ticket.first_responded_at is None:
                ticket.first_responded_at = now
            rows: list[int] = []
            conversation = await self._conversation(session, ticket)
            if conversation is not None:
                language = self._language(ticket, conversation)
                body = self._phrase(
                    "ticket_answered", language, reference=ticket.reference, text=text
                )
                rows += await self.line.store_outbound(
                    session,
                    conversation,
                    [OutboundMessage(body, sender="agent")],
                    language=language,
                    agent_id=agent_id,
                )
                await self._record_notices(session, ticket, conversation, rows, "answered")
            if ticket.status != then and can_move(ticket.status, then):
                rows += await self._move(session, ticket, then, actor=actor, quiet=True)
            ticket.updated_at = now
        await self.line.deliver(rows)
        self._changed(ticket_id)

    async def note(self, ticket_id: int, text: str, *, actor: str) -> None:
        """An internal note: agents see it, the customer never does."""
        text = clean_text(text, limit=MAX_TEXT, what="note")
        async with self.db.transaction() as session:
            ticket = await self._ticket(session, ticket_id)
            TicketStore(session).add_event(ticket, kind="note", actor=actor, detail=text)
            ticket.updated_at = self.clock.now()
        self._changed(ticket_id)

    async def comment(self, ticket_id: int, text: str, *, actor: str, public: bool) -> None:
        """The API's comment: a public reply or an internal note."""
        if public:
            await self.public_reply(ticket_id, text, actor=actor)
        else:
            await self.note(ticket_id, text, actor=actor)

    # --- the customer writes back (inside the engine's turn) -----------------------------------

    async def follow_up(self, turn: TurnView) -> list[OutboundMessage] | None:
        """The engine's follow-up (``bot.ports.FollowUps``): a message about a ticket that
        waits on the customer.

        A ``pending`` ticket asked the customer something, so any words are the answer.
        After ``resolved``, a message reopens the ticket when it names the reference or
        the bot would not know what to do with it; a clear new question (an FAQ) is
        answered as usual. Commands and buttons (``/status``, a CSAT rating) pass.
        """
        text = turn.message.text
        if is_command(text, turn.message.payload):
            return None
        ticket = await TicketStore(turn.session).awaiting_customer(turn.conversation_id)
        if ticket is None:
            # A reply to a notification we mailed: the email thread stands for the ticket.
            ticket = await NoticeStore(turn.session).ticket_of_thread(turn.conversation_id)
            if ticket is None or ticket.status not in (
                TicketStatus.PENDING,
                TicketStatus.RESOLVED,
            ):
                return None
        if ticket.status == TicketStatus.RESOLVED:
            named = find_reference(text) == ticket.reference
            if turn.intent is not None and not named:
                return None
        # The turn loaded (and locked) the conversation in this session already.
        conversation = await ConversationRepository(turn.session).get(turn.conversation_id)
        assert conversation is not None
        reply = await self.customer_wrote(turn.session, ticket, conversation, text)
        turn.changed_tickets.append(ticket.id)  # announced by the engine after the commit
        return [reply]

    async def customer_wrote(
        self, session: AsyncSession, ticket: Ticket, conversation: Conversation, text: str
    ) -> OutboundMessage:
        """The customer's answer lands on the ticket; a pending or resolved ticket reopens.

        Runs in the customer's turn: the caller announces the change once it committed."""
        now = self.clock.now()
        store = TicketStore(session)
        store.add_event(ticket, kind="customer_reply", actor="customer", detail=text)
        reopened = ticket.status == TicketStatus.RESOLVED
        if ticket.status in (TicketStatus.PENDING, TicketStatus.RESOLVED):
            store.add_event(
                ticket, kind="status", actor="customer", detail=f"{ticket.status.value} -> open"
            )
            if ticket.status == TicketStatus.PENDING:
                resume_sla(ticket, self.policy.sla, now)
            ticket.status = TicketStatus.OPEN
            ticket.resolved_at = None
        ticket.updated_at = now
        conversation.csat_requested_at = None  # they answered in words, not with a rating
        language = self._language(ticket, conversation)
        key = "ticket_reopened" if reopened else "ticket_reply_added"
        return OutboundMessage(self._phrase(key, language, reference=ticket.reference))

    # --- the sweep ----------------------------------------------------------------------------

    async def sweep(self) -> list[SlaAlert]:
        """Stamp SLAs on new tickets, fire due warnings/breaches once, close old resolved ones."""
        now = self.clock.now()
        alerts: list[SlaAlert] = []
        async with self.db.transaction() as session:
            store = TicketStore(session)
            for ticket in await store.without_sla():
                stamp_sla(ticket, self.policy.sla)
            await session.flush()
            for ticket in await store.sla_candidates(now):
                for kind, due in alerts_due(ticket, now):
                    if await store.record_alert(ticket.id, kind):
                        store.add_event(ticket, kind="sla", actor="sla", detail=kind)
                        alerts.append(
                            SlaAlert(
                                ticket.id,
                                ticket.reference or "",
                                kind,
                                due,
                                ticket.priority,
                                ticket.subject,
                            )
                        )
            closing = await store.resolved_before(now - self.policy.close_after)
            closed: list[int] = []
            for ticket_id in closing:
                ticket = await self._ticket(session, ticket_id)  # locked: read again
                if ticket.status != TicketStatus.RESOLVED:
                    continue  # another worker's sweep (or the customer) got there first
                await self._move(session, ticket, TicketStatus.CLOSED, actor="bot", quiet=True)
                closed.append(ticket_id)
        for alert in alerts:
            await self._announce(alert)
        for ticket_id in closed:
            self._changed(ticket_id)
        return alerts

    async def _announce(self, alert: SlaAlert) -> None:
        self.events.publish(
            DeskEvent(
                EventKind.TICKET,
                None,
                {
                    "ticket_id": alert.ticket_id,
                    "reference": alert.reference,
                    "sla": alert.kind,
                    "due": alert.due.isoformat(),
                },
            )
        )
        for notifier in self.notifiers:
            try:
                await notifier.sla_alert(alert)
            except Exception:  # one broken notifier must not silence the others
                log.exception("SLA notifier failed for %s", alert.reference)

    # --- helpers ------------------------------------------------------------------------------

    async def _assign(
        self, session: AsyncSession, ticket: Ticket, assignee_id: int | None, *, actor: str
    ) -> bool:
        name = "nobody"
        if assignee_id is not None:
            agent = await session.get(Agent, assignee_id)
            if agent is None:
                raise NotFound("No such agent.")
            name = agent.name
        if ticket.assignee_id == assignee_id:
            return False
        ticket.assignee_id = assignee_id
        ticket.updated_at = self.clock.now()
        TicketStore(session).add_event(ticket, kind="assigned", actor=actor, detail=name)
        return True

    def _set_priority(
        self, session: AsyncSession, ticket: Ticket, priority: str, *, actor: str
    ) -> bool:
        if priority not in PRIORITIES:
            raise DeskError(f"priority must be one of {', '.join(PRIORITIES)}")
        if ticket.priority == priority:
            return False
        detail = f"{ticket.priority} -> {priority}"
        ticket.priority = priority
        ticket.updated_at = self.clock.now()
        stamp_sla(ticket, self.policy.sla)  # new targets, from the original creation time
        TicketStore(session).add_event(ticket, kind="priority", actor=actor, detail=detail)
        return True

    async def _move(
        self,
        session: AsyncSession,
        ticket: Ticket,
        status: TicketStatus,
        *,
        actor: str,
        quiet: bool = False,
    ) -> list[int]:
        now = self.clock.now()
        TicketStore(session).add_event(
            ticket, kind="status", actor=actor, detail=f"{ticket.status.value} -> {status.value}"
        )
        if status == TicketStatus.PENDING:
            pause_sla(ticket, now)
        elif ticket.status == TicketStatus.PENDING:
            resume_sla(ticket, self.policy.sla, now)
        ticket.status = status
        ticket.updated_at = now
        if status == TicketStatus.RESOLVED:
            ticket.resolved_at = now
        elif status == TicketStatus.CLOSED:
            ticket.closed_at = now
        elif status in (TicketStatus.OPEN, TicketStatus.PENDING):
            ticket.resolved_at = ticket.closed_at = None
        conversation = await self._conversation(session, ticket)
        asks = status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
        if conversation is None or (quiet and not asks):
            return []
        language = self._language(ticket, conversation)
        replies: list[OutboundMessage] = []
        if status == TicketStatus.PENDING:
            replies.append(self._say("ticket_needs_input", language, ticket))
        elif status == TicketStatus.RESOLVED:
            replies.append(self._say("ticket_resolved", language, ticket))
        if asks:
            # The survey for this occasion (CSAT after a resolution by default), if any.
            resolved = status == TicketStatus.RESOLVED
            question = await ask_survey(
                session,
                self.surveys,
                Phrases(self.catalogue, self.brand),
                conversation=conversation,
                occasion=Occasion.TICKET_RESOLVED if resolved else Occasion.TICKET_CLOSED,
                key=f"ticket:{ticket.id}",
                now=now,
                agent_id=ticket.assignee_id,
                ticket_id=ticket.id,
            )
            replies += [question] if question is not None else []
        rows = await self.line.store_outbound(session, conversation, replies, language=language)
        event = {TicketStatus.PENDING: "needs_input", TicketStatus.RESOLVED: "resolved"}
        if status in event:
            await self._record_notices(session, ticket, conversation, rows, event[status])
        return rows

    async def _record_notices(
        self,
        session: AsyncSession,
        ticket: Ticket,
        conversation: Conversation,
        rows: list[int],
        event: str,
    ) -> None:
        """A chat customer's notification may go out by email if the chat cannot take it."""
        if rows and event in self.email_notices and conversation.channel != "email":
            await NoticeStore(session).record(
                ticket_id=ticket.id, message_ids=rows, event=event, now=self.clock.now()
            )

    async def _ticket(self, session: AsyncSession, ticket_id: int) -> Ticket:
        ticket = await TicketStore(session).get(ticket_id, for_update=True)
        if ticket is None:
            raise NotFound("No such ticket.")
        return ticket

    async def _conversation(self, session: AsyncSession, ticket: Ticket) -> Conversation | None:
        if ticket.conversation_id is None:
            return None
        return await ConversationRepository(session).get(ticket.conversation_id)

    def _language(self, ticket: Ticket, conversation: Conversation | None) -> str:
        for language in (conversation.language if conversation else None, ticket.language):
            if language and self.catalogue.has(language):
                return language
        return self.catalogue.default_language

    def _phrase(self, key: str, language: str, **values: object) -> str:
        return self.catalogue.get(key, language, brand=self.brand, **values)

    def _say(self, key: str, language: str, ticket: Ticket) -> OutboundMessage:
        return OutboundMessage(self._phrase(key, language, reference=ticket.reference))

    def _changed(self, ticket_id: int) -> None:
        self.events.publish(DeskEvent(EventKind.TICKET, None, {"ticket_id": ticket_id}))

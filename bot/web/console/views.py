"""What the console pages show, read from the database in one transaction per page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.channels.webchat import WebChatChannel
from bot.desk.routing import AgentLoad, choose_agent
from bot.desk.service import Desk
from bot.handoff import State
from bot.storage.agent_desk import (
    ConversationRow,
    HistoryRepository,
    NoteRepository,
    QueueRepository,
)
from bot.storage.customers import CustomerCsat, CustomerRepository
from bot.storage.models import (
    AgentNote,
    Attachment,
    ChannelIdentity,
    Conversation,
    Customer,
    Delivery,
    Direction,
    Message,
    Ticket,
    aware,
)
from bot.storage.repositories import ConversationRepository, MessageRepository
from bot.web.console.auth import Login

REASONS = {
    "customer_asked": "asked for a person",
    "low_confidence": "bot unsure twice",
    "frustration": "frustrated",
    "agent_claimed": "claimed",
    "agent_handed_back": "handed back to the bot",
    "transferred": "transferred",
    "resolved": "resolved",
    "timed_out": "nobody claimed it in time: ticket",
    "out_of_hours": "out of hours: ticket",
    "no_agent_online": "nobody online: ticket",
    "customer_returned": "customer wrote again",
    "replied_to_agent": "answered an agent's mail",
}


@dataclass(frozen=True, slots=True)
class ChatItem:
    id: int
    customer: str
    channel: str
    language: str
    state: str
    last_text: str
    waiting: str
    reason: str
    owner: str | None = None
    suggested: str | None = None
    my_language: bool = False


@dataclass(frozen=True, slots=True)
class Dashboard:
    me: AgentLoad | None
    presence: str
    queue: list[ChatItem]
    mine: list[ChatItem]
    others: list[ChatItem]
    recent: list[ChatItem]
    agents: list[tuple[AgentLoad, str]]


@dataclass(frozen=True, slots=True)
class TimelineItem:
    kind: str  # message | event | note
    at: datetime
    data: dict[str, Any]


@dataclass(slots=True)
class ConversationPage:
    conversation: Conversation
    customer: str
    owner: str | None
    timeline: list[TimelineItem]
    tickets: list[Ticket]
    others: list[Conversation]
    can_claim: bool = False
    can_reply: bool = False
    can_hand_back: bool = False
    can_resolve: bool = False
    can_transfer: bool = False
    transfer_to: list[AgentLoad] = field(default_factory=list)
    profile: CustomerProfile | None = None


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """The customer panel: who they are, how sure we are, and what they told us before."""

    verified: bool
    email: str | None
    phone: str | None
    language: str | None
    channels: list[str]
    accounts: list[str]
    """Each platform account by channel and name; web chat sessions counted."""
    csat: list[CustomerCsat]
    notes: list[AgentNote]


def waited(since: datetime | None, now: datetime) -> str:
    if since is None:
        return ""
    seconds = max(0, int((now - aware(since)).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class ConsoleViews:
    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def dashboard(self, login: Login) -> Dashboard:
        now = self.desk.clock.now()
        async with self.desk.db.transaction() as session:
            queue = QueueRepository(session)
            loads = await self.desk.agent_loads(session)
            names = {a.id: a.name for a in loads}
            me = next((a for a in loads if a.id == login.agent_id), None)
            agents = {a.id: a for a in await queue.agents()}
            waiting = await queue.waiting()
            owned = await queue.owned()
            recent = [r for r in await queue.recent(limit=15) if r.conversation.state == State.BOT]
        # Routing's pick for each waiting chat, from one snapshot of the agents.
        suggestions = {
            row.conversation.id: choose_agent(row.conversation.language, loads) for row in waiting
        }

        def item(row: ConversationRow, since: datetime | None) -> ChatItem:
            c = row.conversation
            suggested = suggestions.get(c.id)
            return ChatItem(
                id=c.id,
                customer=row.customer_name or f"Customer {c.customer_id}",
                channel=c.channel,
                language=c.language or "?",
                state=c.state.value,
                last_text=(row.last_customer_text or "")[:200],
                waiting=waited(since, now),
                reason=REASONS.get(c.handoff_reason or "", c.handoff_reason or ""),
                owner=names.get(c.agent_id) if c.agent_id else None,
                suggested=suggested.name if suggested else None,
                my_language=me is not None and me.speaks(c.language),
            )

        presence = agents[login.agent_id].presence.value if login.agent_id in agents else "offline"
        return Dashboard(
            me=me,
            presence=presence,
            queue=[item(r, r.conversation.queued_at) for r in waiting],
            mine=[
                item(r, r.last_customer_at)
                for r in owned
                if r.conversation.agent_id == login.agent_id
            ],
            others=[
                item(r, r.last_customer_at)
                for r in owned
                if r.conversation.agent_id != login.agent_id
            ],
            recent=[item(r, r.last_customer_at) for r in recent],
            agents=[(a, agents[a.id].presence.value) for a in loads],
        )

    async def conversation(self, login: Login, conversation_id: int) -> ConversationPage | None:
        async with self.desk.db.transaction() as session:
            conversation = await ConversationRepository(session).get(conversation_id)
            if conversation is None:
                return None
            history = HistoryRepository(session)
            customer = await history.customer(conversation.customer_id)
            messages = await MessageRepository(session).transcript(conversation.id, limit=500)
            files: dict[int, list[dict[str, Any]]] = {}
            for item in await MessageRepository(session).attachments(conversation.id):
                files.setdefault(item.message_id, []).append(_attachment(item))
            events = await history.events(conversation.id)
            notes = await NoteRepository(session).for_conversation(conversation.id)
            tickets = list(await history.tickets(conversation.customer_id))
            others = [
                c
                for c in await history.conversations(conversation.customer_id)
                if c.id != conversation.id
            ]
            loads = await self.desk.agent_loads(session)
            profile = await _profile(CustomerRepository(session), customer)
        names = {a.id: a.name for a in loads}
        timeline = (
            [
                TimelineItem("message", aware(m.created_at), _message(m, names, files.get(m.id)))
                for m in messages
            ]
            + [
                TimelineItem(
                    "event",
                    aware(e.created_at),
                    {
                        "from": e.from_state.value,
                        "to": e.to_state.value,
                        "reason": REASONS.get(e.reason, e.reason),
                        "actor": e.actor,
                        "detail": e.detail or "",
                    },
                )
                for e in events
            ]
            + [
                TimelineItem(
                    "note", aware(n.created_at), {"id": n.id, "author": n.author, "text": n.text}
                )
                for n in notes
            ]
        )
        timeline.sort(key=lambda item: item.at)
        page = ConversationPage(
            conversation=conversation,
            customer=(customer.display_name if customer else None)
            or f"Customer {conversation.customer_id}",
            owner=names.get(conversation.agent_id) if conversation.agent_id else None,
            timeline=timeline,
            tickets=tickets,
            others=others,
            profile=profile,
        )
        mine = conversation.agent_id == login.agent_id
        state = conversation.state
        page.can_claim = state in (State.QUEUED, State.BOT)
        page.can_reply = state == State.AGENT and mine
        acts = state == State.QUEUED or (state == State.AGENT and (mine or login.is_admin))
        page.can_hand_back = acts
        page.can_resolve = acts
        page.can_transfer = state == State.AGENT and (mine or login.is_admin)
        page.transfer_to = [a for a in loads if a.can_take and a.id != conversation.agent_id]
        return page


async def _profile(
    customers: CustomerRepository, customer: Customer | None
) -> CustomerProfile | None:
    if customer is None:
        return None
    identities = await customers.identities(customer.id)
    return CustomerProfile(
        verified=customer.verified,
        email=customer.email,
        phone=customer.phone,
        language=customer.language,
        channels=sorted({identity.channel for identity in identities}),
        accounts=_accounts(identities),
        csat=await customers.csat(customer.id),
        notes=list(await customers.notes(customer.id)),
    )


def _accounts(identities: Sequence[ChannelIdentity]) -> list[str]:
    """Telegram and Slack accounts by name and id; web chat sessions only counted, since
    a session's id is what opens its chat."""
    named = [
        f"{i.channel}: {i.display_name or i.external_id} ({i.external_id})"
        for i in identities
        if i.channel != WebChatChannel.name
    ]
    sessions = sum(1 for i in identities if i.channel == WebChatChannel.name)
    return named + ([f"{WebChatChannel.name}: {sessions} session(s)"] if sessions else [])


def _attachment(item: Attachment) -> dict[str, Any]:
    """What agents see of a file: stored ones (the web chat's) open from the console;
    others (a Telegram photo) are named, as the platform keeps them."""
    stored = bool((item.details or {}).get("stored")) and item.platform_file_id is not None
    size = item.size_bytes
    return {
        "kind": item.kind,
        "name": item.file_name or item.kind,
        "url": f"/console/files/{item.platform_file_id}" if stored else None,
        "image": stored and (item.mime_type or "").startswith("image/"),
        "size": "" if size is None else _size(size),
    }


def _size(size: int) -> str:
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _message(
    message: Message, names: dict[int, str], files: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    ranking = (message.nlu or {}).get("ranking") or []
    sender = message.sender
    if message.direction == Direction.OUT and message.agent_id is not None:
        sender = names.get(message.agent_id, "agent")
    return {
        "id": message.id,
        "direction": message.direction.value,
        "sender": sender,
        "text": message.text,
        "buttons": [b.get("title", "") for b in message.buttons or []],
        "language": message.language,
        "intent": message.intent,
        "confidence": message.confidence,
        "guesses": [
            (str(r.get("name")), float(r.get("confidence") or 0))
            for r in ranking[:3]
            if isinstance(r, dict)
        ],
        "delivery": message.delivery.value,
        "error": message.last_error if message.delivery == Delivery.FAILED else None,
        "subject": message.subject,
        "negative": bool((message.nlu or {}).get("negative")),
        "files": files or [],
    }

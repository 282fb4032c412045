"""The engine with the agent desk, a controllable clock and a scripted NLU, for desk tests.

The handoff does not depend on what the model says, only on the intent it names, so
these tests use :class:`ScriptedNlu` (fast, deterministic); the browser tests use the
real Rasa server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import select

from bot.channels import ChannelRegistry
from bot.desk.accounts import hash_password
from bot.desk.policy import HandoffPolicy
from bot.desk.service import Desk
from bot.engine.pipeline import Engine
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase
from bot.messages import OutboundMessage
from bot.nlu.client import IntentScore, NluClient, ParseResult
from bot.storage.database import Database
from bot.storage.models import AgentPresence, Conversation, HandoffEvent
from bot.storage.repositories import AgentRepository, ConversationRepository
from bot.tickets.business_hours import BusinessHours
from tests.conftest import TEST_KB, engine_options
from tests.support.fake_channel import FakeChannel

# Wednesday 2026-11-25, 11:30 in Asia/Kolkata: inside the test business hours.
OPEN = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
# Sunday 2026-11-29, 11:30 in Asia/Kolkata: closed.
SUNDAY = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)

SCRIPT = {
    "hello": "greet",
    "where is my order": "faq/order_status",
    "i want to talk to a person": "human_handoff",
}


class ScriptedNlu:
    """Knows a few phrases for sure; anything else is out of scope (the bot is unsure)."""

    def __init__(self, script: dict[str, str] | None = None) -> None:
        self.script = script or SCRIPT
        self.calls = 0
        # Runs while "parsing": lets a test act in the window between storing and answering.
        self.while_parsing: Callable[[], Awaitable[None]] | None = None

    async def parse(self, text: str) -> ParseResult:
        self.calls += 1
        if self.while_parsing is not None:
            await self.while_parsing()
        intent = self.script.get(text.strip().lower().rstrip("?!. "))
        if intent is None:
            # Below the out-of-scope threshold (0.5): unsure, not a confident decline.
            ranking = (
                IntentScore("out_of_scope", 0.45),
                IntentScore("faq/order_status", 0.2),
                IntentScore("faq/return_policy", 0.1),
            )
            return ParseResult(text=text, intent="out_of_scope", confidence=0.45, ranking=ranking)
        return ParseResult(
            text=text, intent=intent, confidence=0.97, ranking=(IntentScore(intent, 0.97),)
        )

    async def ready(self) -> bool:
        return True

    async def close(self) -> None:
        return None


@cache
def _hashed(password: str) -> str:
    # argon2 is slow on purpose; one hash per password is enough for the tests.
    return hash_password(password)


class FakeClock:
    def __init__(self, start: datetime = OPEN) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class WallClock(FakeClock):
    """The real time (for browser tests, where timestamps are shown next to each other)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def test_policy(**changes: object) -> HandoffPolicy:
    values: dict[str, object] = {
        "hours": BusinessHours.parse(timezone="Asia/Kolkata", weekly={"mon-fri": "09:00-18:00"}),
        "queue_timeout": timedelta(minutes=10),
        "presence_timeout": timedelta(seconds=90),
        "position_step": 2,
        "require_online_agent": True,
    }
    values.update(changes)
    return HandoffPolicy(**values)  # type: ignore[arg-type]


test_policy.__test__ = False  # type: ignore[attr-defined]  # not a test, despite the name


@dataclass
class DeskRig:
    db: Database
    engine: Engine
    desk: Desk
    channel: Any  # a FakeChannel, or a real channel in end-to-end tests
    clock: FakeClock
    nlu: ScriptedNlu

    def worker_desk(self, db_url: str) -> Desk:
        """This rig's desk as another worker has it: its own connection pool (dispose of
        ``desk.db`` after)."""
        return Desk(
            db=Database(db_url),
            line=self.engine,
            catalogue=self.engine.catalogue,
            brand="VoltCart",
            policy=self.desk.policy,
            clock=self.clock,
        )

    async def add_agent(
        self,
        name: str,
        *,
        languages: Sequence[str] = ("en",),
        max_chats: int = 3,
        role: str = "agent",
        online: bool = True,
        password: str | None = None,
    ) -> int:
        async with self.db.transaction() as session:
            agents = AgentRepository(session)
            agent = await agents.add(
                name=name, languages=list(languages), max_chats=max_chats, role=role
            )
            if password is not None:
                await agents.set_password_hash(agent, _hashed(password))
            agent_id = agent.id
        if online:
            await self.desk.set_presence(agent_id, AgentPresence.ONLINE)
        return agent_id

    async def push(self, text: str, *, user: str = "alice", **kwargs: object) -> list[str]:
        return [m.text for m in await self.channel.push(text, user=user, **kwargs)]

    async def conversation(self, user: str = "alice") -> Conversation:
        async with self.db.transaction() as session:
            found = await ConversationRepository(session).find(
                channel="fake", conversation_key=f"chat-{user}"
            )
        assert found is not None
        return found

    async def transitions(self, user: str = "alice") -> list[tuple[str, str, str]]:
        conversation = await self.conversation(user)
        async with self.db.transaction() as session:
            events = await session.scalars(
                select(HandoffEvent)
                .where(HandoffEvent.conversation_id == conversation.id)
                .order_by(HandoffEvent.id)
            )
            return [(e.from_state.value, e.to_state.value, e.reason) for e in events]

    def sent(self, user: str = "alice") -> list[OutboundMessage]:
        sent: list[OutboundMessage] = self.channel.sent_to(user)
        return sent

    def phrase(self, key: str, language: str = "en", **values: object) -> str:
        return self.engine.catalogue.get(key, language, brand="VoltCart", **values)


async def make_rig(
    db: Database,
    *,
    policy: HandoffPolicy | None = None,
    start: datetime = OPEN,
    channel: Any = None,
    nlu: NluClient | None = None,
    clock: FakeClock | None = None,
) -> DeskRig:
    """The engine and desk wired as ``helpdesk run`` wires them (FakeChannel, scripted NLU
    and a fake clock unless given others)."""
    channel = channel if channel is not None else FakeChannel()
    registry = ChannelRegistry()
    registry.add(channel)
    scripted = ScriptedNlu()
    engine = Engine(
        db=db,
        nlu=nlu or scripted,
        kb=LiveKnowledgeBase(TEST_KB, default_language="en"),
        catalogue=Catalogue.load(default_language="en"),
        channels=registry,
        options=engine_options(),
    )
    clock = clock or FakeClock(start)
    desk = Desk(
        db=db,
        line=engine,
        catalogue=engine.catalogue,
        brand="VoltCart",
        policy=policy or test_policy(),
        clock=clock,
    )
    engine.connect(desk=desk)
    await channel.start(engine.receive)
    return DeskRig(db, engine, desk, channel, clock, scripted)

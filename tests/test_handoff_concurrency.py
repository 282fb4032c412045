"""Two agents claim one chat at the same moment: exactly one owns it, the database decides.

On PostgreSQL the claims run in separate connections (separate pools) and both read
the chat as 'queued' before either writes (a barrier), which is the race that matters.
A control shows the same race with a plain read-then-write lets both "win", so the
test would catch a claim that is not enforced by the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.desk.policy import Conflict
from bot.handoff import HandoffReason, State, StateChanged, move
from bot.storage.database import Database
from bot.storage.models import Conversation, HandoffEvent
from bot.storage.repositories import AgentRepository, ConversationRepository
from tests.conftest import _empty_tables
from tests.support.desk import make_rig

pytestmark = pytest.mark.postgres


async def _queued_chat(db: Database, agents: int) -> tuple[int, list[int]]:
    async with db.transaction() as session:
        ids = [
            (await AgentRepository(session).add(name=f"agent{i}", languages=["en"], max_chats=5)).id
            for i in range(agents)
        ]
        conversation = await ConversationRepository(session).get_or_create(
            channel="fake", conversation_key="chat-race", user_id="race", user_name="Race"
        )
        await session.flush()
        await move(
            session, conversation, to=State.QUEUED, reason=HandoffReason.CUSTOMER_ASKED, actor="bot"
        )
        return conversation.id, ids


@pytest.fixture
async def two_connections(pg_url: str) -> AsyncIterator[tuple[Database, Database, Database]]:
    main = Database(pg_url)
    await _empty_tables(main)
    first, second = Database(pg_url), Database(pg_url)
    yield main, first, second
    for db in (main, first, second):
        await db.dispose()


async def _claim_after_barrier(
    db: Database, conversation_id: int, agent_id: int, both_read: asyncio.Barrier, *, guarded: bool
) -> str:
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).get(conversation_id)
        assert conversation is not None and conversation.state == State.QUEUED
        await both_read.wait()  # both transactions have now seen 'queued'
        if guarded:
            try:
                await move(
                    session,
                    conversation,
                    to=State.AGENT,
                    reason=HandoffReason.AGENT_CLAIMED,
                    actor=f"agent {agent_id}",
                    agent_id=agent_id,
                )
            except StateChanged:
                return "lost"
        else:  # the naive way: trust what was read
            conversation.state = State.AGENT
            conversation.agent_id = agent_id
        return "won"


async def test_two_connections_claim_at_once_exactly_one_wins(
    two_connections: tuple[Database, Database, Database],
) -> None:
    main, first, second = two_connections
    conversation_id, (ann, bo) = await _queued_chat(main, 2)
    both_read = asyncio.Barrier(2)
    outcomes = await asyncio.wait_for(
        asyncio.gather(
            _claim_after_barrier(first, conversation_id, ann, both_read, guarded=True),
            _claim_after_barrier(second, conversation_id, bo, both_read, guarded=True),
        ),
        timeout=30,
    )
    assert sorted(outcomes) == ["lost", "won"]
    winner = ann if outcomes[0] == "won" else bo
    async with main.transaction() as session:
        stored = await session.get(Conversation, conversation_id)
        claims = (
            await session.scalars(select(HandoffEvent).where(HandoffEvent.to_state == State.AGENT))
        ).all()
    assert stored is not None and stored.state == State.AGENT and stored.agent_id == winner
    assert len(claims) == 1 and claims[0].actor == f"agent {winner}"


async def test_control_without_the_condition_both_would_win(
    two_connections: tuple[Database, Database, Database],
) -> None:
    """The same race with a read-then-write: both think they own the chat."""
    main, first, second = two_connections
    conversation_id, (ann, bo) = await _queued_chat(main, 2)
    both_read = asyncio.Barrier(2)
    outcomes = await asyncio.wait_for(
        asyncio.gather(
            _claim_after_barrier(first, conversation_id, ann, both_read, guarded=False),
            _claim_after_barrier(second, conversation_id, bo, both_read, guarded=False),
        ),
        timeout=30,
    )
    assert list(outcomes) == ["won", "won"]


@pytest.mark.parametrize("db_url", ["postgres", "sqlite"], indirect=True)
async def test_many_agents_press_claim_together_through_the_desk(db: Database, db_url: str) -> None:
    """Eight agents, each through its own connection pool: one owner, seven told who."""
    rig = await make_rig(db)
    names = [f"agent{i}" for i in range(8)]
    ids = [await rig.add_agent(name) for name in names]
    await rig.push("/human")
    conversation = await rig.conversation()
    desks = [rig.worker_desk(db_url) for _ in ids]
    try:
        results = await asyncio.wait_for(
            asyncio.gather(
                *(
                    desk.claim(agent, conversation.id)
                    for desk, agent in zip(desks, ids, strict=True)
                ),
                return_exceptions=True,
            ),
            timeout=60,
        )
    finally:
        for desk in desks:
            await desk.db.dispose()
    winners = [name for name, result in zip(names, results, strict=True) if result is None]
    losers = [result for result in results if result is not None]
    assert len(winners) == 1, results
    assert len(losers) == 7 and all(isinstance(r, Conflict) for r in losers)
    assert all(str(r) == f"{winners[0]} already has this chat." for r in losers)
    owned = await rig.conversation()
    assert owned.state == State.AGENT and owned.agent_id == ids[names.index(winners[0])]
    assert [t for t in await rig.transitions() if t[1] == "agent"] == [
        ("queued", "agent", "agent_claimed")
    ]
    joined = rig.phrase("agent_joined", agent=winners[0])
    assert [m.text for m in rig.sent()].count(joined) == 1

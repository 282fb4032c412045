"""The handoff state machine itself: every allowed transition, every forbidden one, on both
databases, and the compare-and-set that makes a stale writer lose instead of overwrite."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from sqlalchemy import select, update

from bot.handoff import (
    ALLOWED,
    HUMAN_STATES,
    HandoffError,
    HandoffReason,
    State,
    StateChanged,
    move,
)
from bot.storage.database import Database
from bot.storage.models import Conversation, HandoffEvent
from bot.storage.repositories import AgentRepository, ConversationRepository

ALLOWED_PAIRS = sorted((a, b) for a, targets in ALLOWED.items() for b in targets)
FORBIDDEN_PAIRS = sorted((a, b) for a, b in itertools.product(State, State) if b not in ALLOWED[a])


def test_the_machine_is_the_documented_one() -> None:
    assert {
        State.BOT: {State.QUEUED, State.AGENT},
        State.QUEUED: {State.AGENT, State.BOT, State.RESOLVED},
        State.AGENT: {State.AGENT, State.BOT, State.RESOLVED},
        State.RESOLVED: {State.BOT, State.QUEUED},
    } == ALLOWED
    assert {State.QUEUED, State.AGENT} == HUMAN_STATES
    # Forbidden, among others: skipping the desk from resolved, re-queueing an owned chat.
    assert (State.RESOLVED, State.AGENT) in FORBIDDEN_PAIRS
    assert (State.AGENT, State.QUEUED) in FORBIDDEN_PAIRS
    assert (State.BOT, State.RESOLVED) in FORBIDDEN_PAIRS


async def _conversation_in(db: Database, state: State) -> tuple[int, int]:
    """A conversation put straight into ``state`` (owned by an agent when that is 'agent')."""
    async with db.transaction() as session:
        agent = await AgentRepository(session).add(name="ann", languages=["en"], max_chats=3)
        conversation = await ConversationRepository(session).get_or_create(
            channel="fake", conversation_key="k1", user_id="u1", user_name="U"
        )
        await session.flush()
        conversation.state = state
        conversation.agent_id = agent.id if state in (State.AGENT, State.RESOLVED) else None
        return conversation.id, agent.id


async def _second_agent(db: Database) -> int:
    async with db.transaction() as session:
        return (await AgentRepository(session).add(name="bo", languages=["en"], max_chats=3)).id


@pytest.mark.parametrize(("start", "to"), ALLOWED_PAIRS, ids=lambda s: s.value)
async def test_every_allowed_transition_is_applied_and_recorded(
    db: Database, start: State, to: State
) -> None:
    conversation_id, _ = await _conversation_in(db, start)
    new_owner = await _second_agent(db) if to == State.AGENT else None
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).get(conversation_id)
        assert conversation is not None
        event = await move(
            session,
            conversation,
            to=to,
            reason=HandoffReason.AGENT_CLAIMED,
            actor="tester",
            agent_id=new_owner,
            detail="why not",
        )
    async with db.transaction() as session:
        stored = await session.get(Conversation, conversation_id)
        [recorded] = (await session.scalars(select(HandoffEvent))).all()
    assert stored is not None and stored.state == to
    assert (recorded.from_state, recorded.to_state) == (start, to)
    assert (recorded.reason, recorded.actor, recorded.detail) == (
        "agent_claimed",
        "tester",
        "why not",
    )
    assert event.id == recorded.id
    if to == State.AGENT:
        assert stored.agent_id == new_owner
    if to in (State.BOT, State.QUEUED):
        assert stored.agent_id is None
    if to == State.QUEUED:
        assert stored.queued_at is not None and stored.handoff_reason == "agent_claimed"


@pytest.mark.parametrize(("start", "to"), FORBIDDEN_PAIRS, ids=lambda s: s.value)
async def test_every_forbidden_transition_is_refused_and_changes_nothing(
    db: Database, start: State, to: State
) -> None:
    conversation_id, agent_id = await _conversation_in(db, start)
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).get(conversation_id)
        assert conversation is not None
        with pytest.raises(HandoffError, match=f"from {start} to {to}"):
            await move(
                session,
                conversation,
                to=to,
                reason=HandoffReason.CUSTOMER_ASKED,
                actor="tester",
                agent_id=agent_id,
            )
    async with db.transaction() as session:
        stored = await session.get(Conversation, conversation_id)
        assert stored is not None and stored.state == start
        assert (await session.scalars(select(HandoffEvent))).all() == []


async def test_moving_to_agent_needs_an_agent(db: Database) -> None:
    conversation_id, _ = await _conversation_in(db, State.QUEUED)
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).get(conversation_id)
        assert conversation is not None
        with pytest.raises(HandoffError, match="needs the agent"):
            await move(
                session, conversation, to=State.AGENT, reason=HandoffReason.AGENT_CLAIMED, actor="x"
            )


async def test_a_stale_writer_loses_and_learns_who_won(db: Database) -> None:
    """The object says 'queued' but the row is already Ann's: the move must not overwrite it.

    (Across real concurrent transactions this is tests/test_handoff_concurrency.py.)
    """
    conversation_id, ann = await _conversation_in(db, State.QUEUED)
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).get(conversation_id)
        assert conversation is not None
        # The row changes under the loaded object, as another worker's commit would do
        # (synchronize_session=False: the loaded object must keep its stale 'queued').
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(state="agent", agent_id=ann)
            .execution_options(synchronize_session=False)
        )
        with pytest.raises(StateChanged) as caught:
            await move(
                session,
                conversation,
                to=State.BOT,
                reason=HandoffReason.TIMED_OUT,
                actor="bot",
            )
        assert caught.value.conversation.state == State.AGENT
        assert caught.value.conversation.agent_id == ann
        assert (await session.scalars(select(HandoffEvent))).all() == []


async def test_migration_0003_matches_the_models_and_downgrades(db_url: str) -> None:
    """The desk's tables and columns as migrated are exactly the models; 0003 undoes cleanly."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine

    from bot.storage.migrate import alembic_config, upgrade_async
    from bot.storage.models import Base

    async def differences() -> list[object]:
        engine = create_async_engine(db_url)
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
        await engine.dispose()
        return list(diff)

    assert await differences() == []
    await asyncio.to_thread(command.downgrade, alembic_config(db_url), "0002")
    try:
        missing = {str(d[1].name) for d in await differences() if d[0] == "add_table"}  # type: ignore[index]
        assert {"agent_sessions", "agent_notes"} <= missing
    finally:
        await upgrade_async(db_url)
    assert await differences() == []

"""Repositories on SQLite and PostgreSQL: dedupe, references, transitions, outbox."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text as sql

from bot.handoff import HandoffError, HandoffReason, move
from bot.storage import database as database_module
from bot.storage.database import Database
from bot.storage.models import ConversationState, Delivery
from bot.storage.repositories import (
    AgentRepository,
    ConversationRepository,
    MessageRepository,
    TicketRepository,
)


async def new_conversation(db: Database, key: str = "c1", user: str = "u1") -> int:
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).get_or_create(
            channel="telegram", conversation_key=key, user_id=user, user_name="Ann"
        )
        return conversation.id


async def test_conversations_are_found_again(db: Database) -> None:
    first = await new_conversation(db)
    assert await new_conversation(db) == first
    assert await new_conversation(db, key="c2") != first


async def test_same_user_is_one_customer_across_conversations(db: Database) -> None:
    async with db.transaction() as session:
        repo = ConversationRepository(session)
        a = await repo.get_or_create(
            channel="slack", conversation_key="k1", user_id="U1", user_name=None
        )
        b = await repo.get_or_create(
            channel="slack", conversation_key="k2", user_id="U1", user_name=None
        )
        assert a.customer_id == b.customer_id


async def test_concurrent_creation_of_one_conversation(db: Database) -> None:
    ids = await asyncio.gather(*(new_conversation(db, key="race", user="r") for _ in range(4)))
    assert len(set(ids)) == 1


async def test_inbound_dedupe_on_platform_id(db: Database) -> None:
    await new_conversation(db)
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).find(
            channel="telegram", conversation_key="c1"
        )
        assert conversation is not None
        messages = MessageRepository(session)
        first = await messages.add_inbound(
            conversation=conversation, text="hi", payload=None, platform_message_id="m1"
        )
        again = await messages.add_inbound(
            conversation=conversation, text="hi", payload=None, platform_message_id="m1"
        )
        other = await messages.add_inbound(
            conversation=conversation, text="hi", payload=None, platform_message_id="m2"
        )
        assert first is not None and again is None and other is not None


async def test_outbox_lifecycle(db: Database) -> None:
    await new_conversation(db)
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).find(
            channel="telegram", conversation_key="c1"
        )
        assert conversation is not None
        row = await MessageRepository(session).add_outbound(
            conversation=conversation,
            text="hello",
            buttons=[{"title": "A", "payload": "/a"}],
            sender="bot",
            language="en",
        )
        row_id = row.id
    async with db.transaction() as session:
        pending = await MessageRepository(session).pending_outbound()
        assert [m.id for m in pending] == [row_id]
        assert pending[0].buttons == [{"title": "A", "payload": "/a"}]
        await MessageRepository(session).mark_sent(row_id, platform_message_id="tg-9")
    async with db.transaction() as session:
        assert await MessageRepository(session).pending_outbound() == []
        sent = await MessageRepository(session).get(row_id)
        assert sent is not None and sent.delivery == Delivery.SENT and sent.sent_at is not None


async def test_only_inbound_platform_ids_are_deduplicated(db: Database) -> None:
    # Platforms number messages per chat: two chats' replies may get the same id back.
    first, second = await new_conversation(db, key="c1"), await new_conversation(db, key="c2")
    async with db.transaction() as session:
        messages = MessageRepository(session)
        rows = []
        for conversation_id in (first, second):
            conversation = await ConversationRepository(session).get(conversation_id)
            assert conversation is not None
            rows.append(
                await messages.add_outbound(
                    conversation=conversation, text="hi", buttons=None, sender="bot", language="en"
                )
            )
        row_ids = [row.id for row in rows]
    for row_id in row_ids:
        async with db.transaction() as session:
            await MessageRepository(session).mark_sent(row_id, platform_message_id="42")
    async with db.transaction() as session:
        sent = [await MessageRepository(session).get(row_id) for row_id in row_ids]
        assert all(m is not None and m.delivery == Delivery.SENT for m in sent)
        conversation = await ConversationRepository(session).get(first)
        assert conversation is not None
        # The same id inbound is still a redelivery, dropped.
        assert (
            await MessageRepository(session).add_inbound(
                conversation=conversation, text="x", payload=None, platform_message_id="42"
            )
            is not None
        )
        assert (
            await MessageRepository(session).add_inbound(
                conversation=conversation, text="x", payload=None, platform_message_id="42"
            )
            is None
        )


async def test_ticket_references_are_sequential_and_unique(db: Database) -> None:
    conversation_id = await new_conversation(db)
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).get(conversation_id)
        assert conversation is not None
        tickets = TicketRepository(session)
        one = await tickets.create(
            customer_id=conversation.customer_id,
            conversation_id=conversation_id,
            subject="a",
            description="",
            language="en",
            actor="customer",
        )
        two = await tickets.create(
            customer_id=conversation.customer_id,
            conversation_id=conversation_id,
            subject="b",
            description="",
            language="en",
            actor="customer",
        )
        assert (one.reference, two.reference) == ("HD-1001", "HD-1002")
        events = await tickets.events(one.id)
        assert [e.kind for e in events] == ["created"]
        assert (
            await tickets.find_for_customer(
                reference="hd-1002", customer_id=conversation.customer_id
            )
            is two
        )
        assert (
            await tickets.find_for_customer(
                reference="HD-1002", customer_id=conversation.customer_id + 99
            )
            is None
        )


async def test_state_transitions_are_recorded_and_checked(db: Database) -> None:
    conversation_id = await new_conversation(db)
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).get(conversation_id)
        assert conversation is not None
        ann = await AgentRepository(session).add(name="ann", languages=["en"], max_chats=2)
        await move(
            session,
            conversation,
            to=ConversationState.QUEUED,
            reason=HandoffReason.CUSTOMER_ASKED,
            actor="bot",
        )
        await move(
            session,
            conversation,
            to=ConversationState.AGENT,
            reason=HandoffReason.AGENT_CLAIMED,
            actor="ann",
            agent_id=ann.id,
        )
        assert conversation.agent_id == ann.id
        with pytest.raises(HandoffError):
            await move(
                session,
                conversation,
                to=ConversationState.QUEUED,
                reason=HandoffReason.CUSTOMER_ASKED,
                actor="bot",
            )
        events = await ConversationRepository(session).handoff_events(conversation_id)
        assert [(e.from_state, e.to_state, e.actor) for e in events] == [
            (ConversationState.BOT, ConversationState.QUEUED, "bot"),
            (ConversationState.QUEUED, ConversationState.AGENT, "ann"),
        ]


async def test_agents(db: Database) -> None:
    async with db.transaction() as session:
        agents = AgentRepository(session)
        await agents.add(name="priya", languages=["gu", "en"], max_chats=4)
        found = await agents.find("priya")
        assert found is not None and found.languages == "gu,en" and found.max_chats == 4
        assert [a.name for a in await agents.list()] == ["priya"]


async def test_a_failed_transaction_stores_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await ConversationRepository(session).get_or_create(
                channel="web", conversation_key="boom", user_id="x", user_name=None
            )
            raise RuntimeError("crash mid-turn")
    async with db.transaction() as session:
        assert (
            await ConversationRepository(session).find(channel="web", conversation_key="boom")
            is None
        )


async def test_outbox_rows_are_marked_sent_in_one_batch_and_checked_in_one_read(
    db: Database,
) -> None:
    conversation_id = await new_conversation(db)
    async with db.transaction() as session:
        conversation = await ConversationRepository(session).get(conversation_id)
        assert conversation is not None
        messages = MessageRepository(session)
        rows = [
            await messages.add_outbound(
                conversation=conversation, text=t, buttons=None, sender="bot", language="en"
            )
            for t in ("one", "two", "three")
        ]
        ids = [row.id for row in rows]
    async with db.transaction() as session:
        messages = MessageRepository(session)
        assert await messages.sendable(ids[0]) == (True, False)
        assert await messages.sendable(10**9) == (False, False)  # no such row
        await messages.mark_all_sent([(ids[0], "p-1"), (ids[1], None)])
    async with db.transaction() as session:
        messages = MessageRepository(session)
        done = [await messages.get(row_id) for row_id in ids]
        assert [(m.delivery, m.platform_message_id, m.attempts) for m in done if m] == [
            (Delivery.SENT, "p-1", 1),
            (Delivery.SENT, None, 1),
            (Delivery.PENDING, None, 0),
        ]
        assert await messages.sendable(ids[0]) == (False, False)
        conversation = await ConversationRepository(session).get(conversation_id)
        assert conversation is not None
        await ConversationRepository(session).set_unreachable(conversation, reason="blocked")
    async with db.transaction() as session:
        assert await MessageRepository(session).sendable(ids[2]) == (True, True)


async def test_sqlite_transactions_of_one_process_take_turns(tmp_path: Path) -> None:
    # SQLite itself would make the second wait at most its busy timeout (0.05 s here) and
    # then fail with "database is locked"; the process's own queue makes it wait its turn.
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}", busy_timeout_s=0.05)
    try:
        async with db.transaction() as session:
            await session.execute(sql("CREATE TABLE t (x INTEGER)"))
        first_in = asyncio.Event()

        async def write(value: int, hold_s: float) -> None:
            async with db.transaction() as session:
                await session.execute(sql("INSERT INTO t VALUES (:x)"), {"x": value})
                first_in.set()
                await asyncio.sleep(hold_s)

        first = asyncio.create_task(write(1, 0.5))
        await first_in.wait()
        await write(2, 0)
        await first
        async with db.transaction() as session:
            stored = (await session.execute(sql("SELECT x FROM t ORDER BY rowid"))).scalars()
            assert list(stored) == [1, 2]
    finally:
        await db.dispose()


async def test_a_postgresql_connection_that_died_in_the_pool_is_replaced(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, admin = Database(pg_url), Database(pg_url)
    try:
        async with db.transaction() as session:
            pid = (await session.execute(sql("SELECT pg_backend_pid()"))).scalar_one()
        # The server ends the pooled connection, as a restart or an idle timeout does.
        async with admin.transaction() as session:
            await session.execute(sql("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        monkeypatch.setattr(database_module, "PING_AFTER_IDLE_S", 0.0)  # it sat idle long
        async with db.transaction() as session:
            fresh = (await session.execute(sql("SELECT pg_backend_pid()"))).scalar_one()
        assert fresh != pid
    finally:
        await db.dispose()
        await admin.dispose()

"""An agent's ``max_chats`` holds when two workers give them a chat at the same moment.

Two claims by one agent (two browser tabs), or a transfer to an agent racing that
agent's own claim, each run through their own connection pool on PostgreSQL, as two
workers would. The race that matters is both counting the agent's chats before either
moves one: :class:`CountGate` holds each transaction right after it counted until the
other has counted too, or is waiting for a lock. Without the agent's lock both count
one below the maximum and both win (the test then fails); with it, the second counts
after the first committed and is refused. SQLite needs no such test: every transaction
there holds the database's write lock from its start (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from bot.desk.policy import Conflict
from bot.desk.service import Desk
from bot.handoff import State
from bot.storage.agent_desk import QueueRepository
from bot.storage.database import Database
from tests.support.desk import DeskRig, make_rig
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]


class CountGate:
    """After counting an agent's chats, wait for the other transaction to count as well
    or to block on a lock (PostgreSQL's ``pg_stat_activity`` says which)."""

    def __init__(self, probe: Database) -> None:
        self.probe = probe
        self.armed = False
        self.counted = 0

    async def after_count(self) -> None:
        if not self.armed:
            return
        self.counted += 1
        await wait_until(
            self._other_counted_or_blocked,
            within=10,
            what="the other transaction counts too, or waits for a lock",
        )

    async def _other_counted_or_blocked(self) -> bool:
        if self.counted >= 2:
            return True
        async with self.probe.transaction() as session:
            waiting = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        return bool(waiting)


@pytest.fixture
async def rig(db: Database) -> DeskRig:
    return await make_rig(db)


@pytest.fixture
def gate(rig: DeskRig, monkeypatch: pytest.MonkeyPatch) -> CountGate:
    gate = CountGate(rig.db)
    count = QueueRepository.active_counts

    async def counted_then_gated(self: QueueRepository) -> dict[int, int]:
        counts = await count(self)
        await gate.after_count()
        return counts

    monkeypatch.setattr(QueueRepository, "active_counts", counted_then_gated)
    return gate


@pytest.fixture
async def workers(rig: DeskRig, db_url: str) -> AsyncIterator[tuple[Desk, Desk]]:
    """Two desks, each with its own connection pool, as two workers have."""
    desks = [rig.worker_desk(db_url) for _ in range(2)]
    yield desks[0], desks[1]
    for desk in desks:
        await desk.db.dispose()


async def _owned_by(rig: DeskRig, agent_id: int, users: list[str]) -> list[str]:
    owned = []
    for user in users:
        conversation = await rig.conversation(user)
        if conversation.state == State.AGENT and conversation.agent_id == agent_id:
            owned.append(user)
    return owned


async def test_two_claims_at_once_by_an_agent_with_room_for_one(
    rig: DeskRig, gate: CountGate, workers: tuple[Desk, Desk]
) -> None:
    priya = await rig.add_agent("priya", max_chats=1)
    await rig.push("/human", user="alice")
    await rig.push("/human", user="bob")
    alice, bob = (await rig.conversation("alice")).id, (await rig.conversation("bob")).id
    first, second = workers
    gate.armed = True
    results = await asyncio.wait_for(
        asyncio.gather(first.claim(priya, alice), second.claim(priya, bob), return_exceptions=True),
        timeout=30,
    )
    gate.armed = False
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "NoneType"], results
    [refused] = [r for r in results if isinstance(r, Conflict)]
    assert str(refused) == "You already have 1 chats, your maximum."
    won = "alice" if results[0] is None else "bob"
    assert await _owned_by(rig, priya, ["alice", "bob"]) == [won]
    lost = "bob" if won == "alice" else "alice"
    assert (await rig.conversation(lost)).state == State.QUEUED


async def test_a_transfer_to_an_agent_racing_their_own_claim(
    rig: DeskRig, gate: CountGate, workers: tuple[Desk, Desk]
) -> None:
    priya = await rig.add_agent("priya")
    ravi = await rig.add_agent("ravi", max_chats=1)
    await rig.push("/human", user="alice")
    await rig.push("/human", user="bob")
    alice, bob = (await rig.conversation("alice")).id, (await rig.conversation("bob")).id
    await rig.desk.claim(priya, alice)
    first, second = workers
    gate.armed = True
    transferred, claimed = await asyncio.wait_for(
        asyncio.gather(
            first.transfer(priya, alice, ravi), second.claim(ravi, bob), return_exceptions=True
        ),
        timeout=30,
    )
    gate.armed = False
    assert [transferred, claimed].count(None) == 1, (transferred, claimed)
    assert isinstance(transferred or claimed, Conflict)
    owned = await _owned_by(rig, ravi, ["alice", "bob"])
    assert owned == (["alice"] if transferred is None else ["bob"])

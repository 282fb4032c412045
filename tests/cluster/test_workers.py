"""Two workers' engines on one PostgreSQL: a conversation's turns never overlap, keep
their order and are answered once, whichever worker stored each message; a dead worker's
messages are answered by the other.

Each "worker" is an :class:`Engine` with its own :class:`ClusterLocks` (its own database
session, as a separate process has); the real Rasa reads, the FAQ buttons' payloads make
the expected answers certain. ``tests/cluster/test_cluster.py`` runs the same across real
processes behind HAProxy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from bot.channels import ChannelRegistry
from bot.cluster.locks import ClusterLocks
from bot.engine.gate import store_inbound
from bot.engine.pipeline import Engine, shared_name
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase, load_knowledge_base
from bot.messages import OutboundMessage
from bot.nlu.rasa_server import RasaSupervisor
from bot.storage.database import Database
from bot.storage.models import Delivery, Direction, Message
from bot.storage.repositories import ConversationRepository
from tests.conftest import TEST_KB, _empty_tables, engine_options
from tests.support.fake_channel import FakeChannel
from tests.support.stored_rows import stored_rows
from tests.support.waiting import wait_until

FAQS = ["order_status", "return_policy", "payment_methods", "reset_password", "delivery_time"]
KB = load_knowledge_base(TEST_KB)


def answer(faq_id: str) -> str:
    return str(KB.entries[faq_id].answers["en"])


class SharedLog:
    """What both workers sent, in the order it went out (the platform's view)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, OutboundMessage]] = []


class WorkerChannel(FakeChannel):
    """One worker's connection to the platform; every send lands in the shared log."""

    def __init__(self, log: SharedLog) -> None:
        super().__init__()
        self.sent = log.sent  # one list: the platform sees both workers' sends


@dataclass
class Worker:
    engine: Engine
    channel: WorkerChannel
    locks: ClusterLocks
    db: Database


@pytest.fixture
async def workers(pg_url: str, rasa: RasaSupervisor) -> AsyncIterator[list[Worker]]:
    log = SharedLog()
    started: list[Worker] = []
    nlu = rasa.client()
    first = Database(pg_url)
    await _empty_tables(first)
    for db in (first, Database(pg_url)):
        channel = WorkerChannel(log)
        locks = ClusterLocks(pg_url)
        registry = ChannelRegistry()
        registry.add(channel)
        engine = Engine(  # as bot/app.py builds it in cluster mode
            db=db,
            nlu=nlu,
            kb=LiveKnowledgeBase(TEST_KB, default_language="en"),
            catalogue=Catalogue.load(default_language="en"),
            channels=registry,
            options=engine_options(),
            shared=locks,
        )
        await channel.start(engine.receive)
        started.append(Worker(engine, channel, locks, db))
    yield started
    for worker in started:
        await worker.locks.close()
        await worker.db.dispose()
    await nlu.close()


async def inbound_rows(db: Database) -> list[Message]:
    return await stored_rows(db, Message, Message.direction == Direction.IN)


async def test_one_conversation_spread_over_two_workers_is_answered_once_and_in_order(
    workers: list[Worker],
) -> None:
    one, two = workers
    faqs = FAQS * 2
    # Round-robin, all at once, as a load balancer spreads a chatty customer's messages.
    await asyncio.gather(
        *(
            workers[i % 2].channel.push(faq_id, payload=f"/faq {faq_id}")
            for i, faq_id in enumerate(faqs)
        )
    )
    stored = await inbound_rows(one.db)
    assert len(stored) == len(faqs)
    assert all(row.delivery == Delivery.PROCESSED for row in stored)
    asked = [str(row.payload).removeprefix("/faq ") for row in sorted(stored, key=lambda r: r.id)]
    sent = [message.text for _, message in one.channel.sent]
    # Every message answered exactly once, in the order the messages were stored.
    assert sent == [answer(faq_id) for faq_id in asked]
    assert two.channel.sent is one.channel.sent


async def test_a_dead_workers_message_is_answered_by_another_within_a_sweep(
    workers: list[Worker],
) -> None:
    dead, alive = workers
    # The dead worker stored the message (and acknowledged it), then died before its turn.
    inbound = dead.channel.message("Returns", payload="/faq return_policy", user="bob")
    assert await store_inbound(dead.db, inbound) is not None
    answered = await alive.engine.answer_orphans(older_than_s=0.0)
    assert answered == 1
    assert [m.text for m in alive.channel.sent_to("bob")] == [answer("return_policy")]
    # Swept again: nothing left, nothing answered twice.
    assert await alive.engine.answer_orphans(older_than_s=0.0) == 0
    assert len(alive.channel.sent_to("bob")) == 1


async def test_the_sweep_leaves_a_conversation_a_live_worker_holds(
    workers: list[Worker],
) -> None:
    busy, sweeper = workers
    inbound = busy.channel.message("Payment", payload="/faq payment_methods", user="carol")
    assert await store_inbound(busy.db, inbound) is not None
    name = shared_name((inbound.channel, inbound.conversation_key))
    async with busy.locks.hold(name):  # the live worker is in this conversation's turn
        assert await sweeper.engine.answer_orphans(older_than_s=0.0) == 0
    assert sweeper.channel.sent_to("carol") == []
    assert await sweeper.engine.answer_orphans(older_than_s=0.0) == 1


async def test_a_young_message_is_not_an_orphan_yet(workers: list[Worker]) -> None:
    one, two = workers
    inbound = one.channel.message("Delivery", payload="/faq delivery_time", user="dan")
    assert await store_inbound(one.db, inbound) is not None
    assert await two.engine.answer_orphans(older_than_s=60.0) == 0
    await wait_until(
        lambda: two.engine.answer_orphans(older_than_s=0.0),
        within=10,
        what="the message to count as an orphan",
    )


async def test_a_new_message_answers_a_dead_workers_earlier_one_first(
    workers: list[Worker],
) -> None:
    dead, alive = workers
    earlier = dead.channel.message("Returns", payload="/faq return_policy", user="erin")
    assert await store_inbound(dead.db, earlier) is not None
    await alive.channel.push("Payment", payload="/faq payment_methods", user="erin")
    assert [m.text for m in alive.channel.sent_to("erin")] == [
        answer("return_policy"),
        answer("payment_methods"),
    ]
    assert await alive.engine.answer_orphans(older_than_s=0.0) == 0


async def test_a_reply_a_dead_worker_stored_but_never_sent_goes_out_before_the_next(
    workers: list[Worker],
) -> None:
    dead, alive = workers
    await alive.channel.push("Returns", payload="/faq return_policy", user="fay")
    # The dead worker committed a reply (an agent's, or its turn's) and died before sending.
    async with dead.db.transaction() as session:
        conversation = await ConversationRepository(session).find(
            channel="fake", conversation_key="chat-fay"
        )
        assert conversation is not None
        await dead.engine.store_outbound(
            session, conversation, [OutboundMessage("stored, never sent")], language="en"
        )
    await alive.channel.push("Payment", payload="/faq payment_methods", user="fay")
    assert [m.text for m in alive.channel.sent_to("fay")] == [
        answer("return_policy"),
        "stored, never sent",
        answer("payment_methods"),
    ]
    assert await alive.engine.flush_outbox() == 0  # nothing left, nothing sent twice


async def test_while_an_earlier_reply_cannot_go_the_next_ones_wait_behind_it(
    workers: list[Worker],
) -> None:
    worker = workers[0]
    worker.channel.fail_sends = 2  # the platform is down for two sends
    await worker.channel.push("Returns", payload="/faq return_policy", user="gil")
    await worker.channel.push("Payment", payload="/faq payment_methods", user="gil")
    # The second turn tried the first reply again (and failed), and kept its own back.
    assert worker.channel.sent_to("gil") == []
    assert await worker.engine.flush_outbox() == 2  # the retry sends both, in order
    assert [m.text for m in worker.channel.sent_to("gil")] == [
        answer("return_policy"),
        answer("payment_methods"),
    ]


async def test_once_the_platform_is_back_the_next_turn_sends_the_earlier_reply_first(
    workers: list[Worker],
) -> None:
    worker = workers[0]
    worker.channel.fail_sends = 1  # down for the first reply only
    await worker.channel.push("Returns", payload="/faq return_policy", user="hal")
    await worker.channel.push("Payment", payload="/faq payment_methods", user="hal")
    assert [m.text for m in worker.channel.sent_to("hal")] == [
        answer("return_policy"),
        answer("payment_methods"),
    ]

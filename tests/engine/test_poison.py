"""A turn that crashes never blocks start-up or recovery: its message is marked failed.

The poison of the probe was a button payload with an id no database column holds
(``/helpful 99999999999999999999999 yes``): its turn crashed, and so did every start's
recovery after it. The ids are bounded now, and any turn that still crashes is
marked failed with its error, logged and counted, and the messages after it go on.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from bot.app import build_helpdesk
from bot.channels.webchat import WebChatChannel
from bot.engine.gate import store_inbound
from bot.knowledge.loader import load_knowledge_base
from bot.messages import OutboundMessage
from bot.nlu.rasa_server import RasaSupervisor
from bot.ports import TurnView
from bot.reports.metrics import REGISTRY, FailedTurnCounter
from bot.settings import Secrets
from bot.storage.models import Delivery, Direction, Message
from tests.conftest import TEST_KB, Pipeline, project_settings

pytestmark = pytest.mark.rasa

KB = load_knowledge_base(TEST_KB)
POISON = "/helpful 99999999999999999999999 yes"
OVER_INT32 = "/helpful 2147483648 no"  # fits SQLite's INTEGER, not PostgreSQL's


def answer(faq_id: str) -> str:
    return KB.entries[faq_id].answers["en"]


def failed_turns(channel: str) -> float:
    value = REGISTRY.get_sample_value("helpdesk_failed_turns_total", {"channel": channel})
    return value or 0.0


async def inbound_rows(p: Pipeline) -> list[Message]:
    async with p.db.transaction() as session:
        stmt = select(Message).where(Message.direction == Direction.IN).order_by(Message.id)
        return list((await session.scalars(stmt)).all())


class Exploding:
    """A follow-up service with a bug: it crashes on one message."""

    async def follow_up(self, view: TurnView) -> list[OutboundMessage] | None:
        if view.message.text == "boom":
            raise RuntimeError("a bug met this message")
        return None


async def test_the_probes_poison_button_is_answered_politely_after_a_restart(
    pipeline: Pipeline,
) -> None:
    poison = pipeline.channel.message(POISON, payload=POISON, message_id="poison")
    big = pipeline.channel.message(OVER_INT32, payload=OVER_INT32, message_id="big", user="carol")
    later = pipeline.channel.message("where is my order", message_id="later", user="bob")
    # Stored, then the bot stopped (as after the crash the probe caused).
    for message in (poison, big, later):
        assert await store_inbound(pipeline.db, message) is not None
    assert await pipeline.engine.recover() == 3
    assert [m.text for m in pipeline.channel.sent_to("bob")] == [answer("order_status")]
    # Each poison got one reply of its own ("I did not understand"), not a crash.
    assert len(pipeline.channel.sent_to("alice")) == len(pipeline.channel.sent_to("carol")) == 1
    assert [row.delivery for row in await inbound_rows(pipeline)] == [Delivery.PROCESSED] * 3


async def test_a_crashing_turn_is_marked_failed_and_recovery_goes_on(pipeline: Pipeline) -> None:
    pipeline.engine.connect(follow_ups=[Exploding()])
    pipeline.engine.failures = FailedTurnCounter()
    before = failed_turns("fake")
    for text, key in (("boom", "bomb"), ("where is my order", "after")):
        message = pipeline.channel.message(text, message_id=key)
        assert await store_inbound(pipeline.db, message) is not None
    # A start-up's recovery: the crashing turn does not stop it (nor the start after it).
    assert await pipeline.engine.recover() == 2
    assert [m.text for m in pipeline.channel.sent_to("alice")] == [answer("order_status")]
    boom, after = await inbound_rows(pipeline)
    assert boom.delivery == Delivery.FAILED
    assert boom.last_error is not None and "a bug met this message" in boom.last_error
    assert after.delivery == Delivery.PROCESSED
    assert failed_turns("fake") == before + 1
    # A failed message is not tried again at the next start.
    assert await pipeline.engine.recover() == 0


async def test_a_crashing_live_turn_fails_alone(pipeline: Pipeline) -> None:
    pipeline.engine.connect(follow_ups=[Exploding()])
    assert await pipeline.channel.push("boom") == []
    replies = await pipeline.channel.push("where is my order")
    assert [r.text for r in replies] == [answer("order_status")]
    boom, after = await inbound_rows(pipeline)
    assert boom.delivery == Delivery.FAILED and after.delivery == Delivery.PROCESSED


async def test_the_bot_becomes_ready_after_a_restart_with_the_poison_stored(
    pipeline: Pipeline, rasa: RasaSupervisor
) -> None:
    """The probe's case whole: the poison stored, then ``helpdesk run``'s start-up."""
    poison = pipeline.channel.message(POISON, payload=POISON, message_id="poison")
    poison = replace(poison, channel="webchat", conversation_key="probe-session-01")
    later = replace(poison, text="where is my order", payload=None, message_id="later")
    for message in (poison, later):
        assert await store_inbound(pipeline.db, message) is not None
    settings = project_settings()
    settings = settings.model_copy(
        update={
            "nlu": settings.nlu.model_copy(update={"url": rasa.url}),
            "database": settings.database.model_copy(update={"url": pipeline.db.url}),
            "knowledge_base": settings.knowledge_base.model_copy(update={"path": TEST_KB}),
        }
    )
    helpdesk = build_helpdesk(
        settings,
        Secrets.model_validate({}),
        channels=[WebChatChannel()],
        model=None,
        rasa_token=rasa.token,
    )
    try:
        await helpdesk.start(progress=lambda _: None)
        assert (await helpdesk.readiness())["ready"] is True  # /healthz says 200
    finally:
        await helpdesk.stop()
    assert [row.delivery for row in await inbound_rows(pipeline)] == [Delivery.PROCESSED] * 2

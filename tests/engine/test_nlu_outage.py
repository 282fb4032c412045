"""Messages that met an NLU outage are answered for real once the NLU is back.

The real Rasa is killed mid-stream (its supervisor starts it again, as in production):
what arrives meanwhile gets the honest "your message is saved" reply at once and is
kept waiting for the NLU; when the NLU answers again each waiting message gets its real
answer, once, in order within its conversation.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bot.i18n import Catalogue
from bot.knowledge.loader import load_knowledge_base
from bot.nlu.rasa_server import RasaSupervisor
from bot.storage.models import Delivery, Message
from tests.conftest import TEST_KB, Pipeline
from tests.support.waiting import wait_until

pytestmark = pytest.mark.rasa

KB = load_knowledge_base(TEST_KB)
SAVED = Catalogue.load(default_language="en").get("nlu_unavailable", "en")
QUESTIONS = [
    ("Where is my order?", "order_status"),
    ("What is your return policy?", "return_policy"),
    ("What payment methods do you accept?", "payment_methods"),
    ("How do I reset my password?", "reset_password"),
]
CUSTOMERS = ["ana", "ben", "chen", "dev"]


async def waiting(p: Pipeline) -> int:
    async with p.db.transaction() as session:
        count = await session.scalar(
            select(func.count(Message.id)).where(Message.delivery == Delivery.WAITING_NLU)
        )
    return int(count or 0)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_rasa_killed_mid_stream_every_message_gets_its_real_answer(
    pipeline: Pipeline, rasa: RasaSupervisor
) -> None:
    async def ask(name: str, questions: list[tuple[str, str]]) -> None:
        for text, _ in questions:
            await pipeline.channel.push(text, user=name)

    await asyncio.gather(*(ask(name, QUESTIONS[:1]) for name in CUSTOMERS))
    restarts = rasa.restarts
    rasa.kill()
    await wait_until(lambda: rasa.restarts > restarts, within=10, what="Rasa gone")
    await asyncio.gather(*(ask(name, QUESTIONS[1:]) for name in CUSTOMERS))
    met_the_outage = len(CUSTOMERS) * (len(QUESTIONS) - 1)
    assert await waiting(pipeline) == met_the_outage
    for name in CUSTOMERS:
        # Honest at once: one "saved" reply per message that met the outage.
        assert [m.text for m in pipeline.channel.sent_to(name)][1:] == [SAVED] * 3
    assert await pipeline.engine.answer_waiting() == 0  # the NLU is not back yet
    await rasa.wait_ready(240)  # its supervisor restarted it
    # A customer who writes again first gets the waiting answers before the new one.
    await pipeline.channel.push("Do you sell gift cards?", user="ana")
    # The supervisor's periodic job (bot/app.py) runs this; it acts once the NLU is back.
    assert await pipeline.engine.answer_waiting() == met_the_outage - 3
    assert await waiting(pipeline) == 0
    assert await pipeline.engine.answer_waiting() == 0  # nothing is answered twice
    for name in CUSTOMERS:
        real = [m.text for m in pipeline.channel.sent_to(name) if m.text != SAVED]
        faqs = [faq for _, faq in QUESTIONS] + (["gift_cards"] if name == "ana" else [])
        assert real == [KB.entries[faq].answers["en"] for faq in faqs], name

"""Ticket priority as docs/tickets.md states it, in the five languages: a product that
stopped working is ``high``, and so is every ticket of a frustrated customer, whether
they open it themselves or the frustration handoff opens it because nobody is online."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.handoff import State
from bot.storage.database import Database
from bot.storage.models import Ticket
from bot.tickets.rules import infer_priority
from tests.support.desk import make_rig
from tests.support.tickets import make_ticket_rig

STOPPED_WORKING = {
    "en": "My phone stopped working yesterday",
    "hi": "मेरे फ़ोन ने कल से काम करना बंद कर दिया है",
    "gu": "મારા ફોને કાલથી કામ કરવાનું બંધ કરી દીધું છે",
    "te": "నా ఫోన్ నిన్నటి నుండి పని చేయడం ఆగిపోయింది",
    "ka": "ჩემმა ტელეფონმა გუშინ შეწყვიტა მუშაობა",
}
NOT_WORKING = {
    "en": "The charger isn't working",
    "hi": "चार्जर काम नहीं कर रहा है",
    "gu": "ચાર્જર કામ કરતું નથી",
    "te": "ఛార్జర్ పని చేయడం లేదు",
    "ka": "დამტენი არ მუშაობს",
}
# Two angry messages in a row: the frustration handoff (bot/engine/frustration.py). None
# of them names a money or access problem, so only the frustration can make them high.
ANGRY = {
    "en": ("this is useless", "terrible service, I am fed up"),
    "hi": ("यह बकवास है", "बहुत बुरा अनुभव, मैं परेशान हूँ"),
    "gu": ("આ નકામું છે", "બહુ ખરાબ સેવા, કોઈ મદદ નથી"),
    "te": ("ఇది పనికిరాని సేవ", "చాలా దారుణం, నాకు కోపం వస్తోంది"),
    "ka": ("ეს უსარგებლოა", "საშინელი მომსახურებაა"),
}
CALM = {
    "en": "Where is my order?",
    "hi": "मेरा ऑर्डर कहाँ है?",
    "gu": "મારો ઓર્ડર ક્યાં છે?",
    "te": "నా ఆర్డర్ ఎక్కడ ఉంది?",
    "ka": "სად არის ჩემი შეკვეთა?",
}


@pytest.mark.parametrize("language", sorted(STOPPED_WORKING))
def test_a_product_that_stopped_working_is_high(language: str) -> None:
    assert infer_priority(STOPPED_WORKING[language]) == "high"
    assert infer_priority(NOT_WORKING[language]) == "high"
    assert infer_priority(CALM[language]) == "normal"


@pytest.mark.parametrize("language", sorted(ANGRY))
async def test_the_frustration_handoff_opens_a_high_ticket(db: Database, language: str) -> None:
    rig = await make_rig(db)
    await rig.add_agent("priya", languages=[language], online=False)
    first, second = ANGRY[language]
    await rig.push(first)
    await rig.push(second)
    assert (await rig.transitions())[:1] == [("bot", "queued", "frustration")]
    assert (await rig.conversation()).state == State.BOT  # nobody online: a ticket instead
    async with db.transaction() as session:
        [ticket] = list(await session.scalars(select(Ticket)))
    assert ticket.priority == "high"


async def test_a_calm_customer_nobody_can_take_gets_a_normal_ticket(db: Database) -> None:
    rig = await make_rig(db)
    await rig.add_agent("priya", online=False)
    await rig.push(CALM["en"])
    await rig.push("/human")
    async with db.transaction() as session:
        [ticket] = list(await session.scalars(select(Ticket)))
    assert ticket.priority == "normal"


async def test_an_angry_answer_in_the_ticket_dialogue_makes_it_high(db: Database) -> None:
    t = await make_ticket_rig(db)
    await t.push("/ticket")
    await t.push("This blender is rubbish")
    await t.push("Order 5521, the lid does not close properly.")
    [ticket] = await t.tickets()
    assert ticket.priority == "high"

"""Telegram webhook updates, fuzzed: the real python-telegram-bot webhook route of the
app (with the secret), the real engine and Rasa, SQLite and PostgreSQL. No input gets
a 5xx; a well-typed update is stored (200), whatever its text and names hold."""

from __future__ import annotations

import json
from itertools import count
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.channels.telegram.webhook import SECRET_HEADER
from tests.channels.telegram.test_telegram_bot import SECRET, TelegramBot

# The webhook bot's fixtures, used here as they are there:
from tests.channels.telegram.test_telegram_bot import kb_dir as kb_dir
from tests.channels.telegram.test_telegram_bot import webhook_bot as webhook_bot
from tests.fuzz.harness import (
    ANY_TEXT,
    FUZZ,
    JSON,
    JUNK_BODIES,
    Bridge,
    Tally,
    fuzz_in_thread,
    mutated,
)

pytestmark = [
    pytest.mark.rasa,
    pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning"),
]

_ids = count(1)
IDS = st.integers(min_value=1, max_value=2**52)  # Telegram's ids fit in 52 bits
LONG_TEXT = st.text(max_size=12_000) | ANY_TEXT


@st.composite
def well_typed(draw: st.DrawFn) -> dict[str, Any]:
    """A message update as Telegram could send it, odd text and names included."""
    user = draw(IDS)
    sender = {
        "id": user,
        "is_bot": False,
        "first_name": draw(st.text(max_size=400) | ANY_TEXT),
        "language_code": draw(st.none() | ANY_TEXT),
    }
    message: dict[str, Any] = {
        "message_id": next(_ids),
        "date": 1_700_000_000,
        "chat": {"id": user, "type": "private"},
        "from": sender,
    }
    kind = draw(st.sampled_from(["text", "caption", "photo"]))
    if kind == "text":
        message["text"] = draw(LONG_TEXT)
    else:
        message["caption"] = draw(ANY_TEXT)
        side = st.integers(min_value=1, max_value=10_000)
        message["photo"] = [
            {"file_id": draw(ANY_TEXT), "file_unique_id": "u", "width": draw(side),
             "height": draw(side), "file_size": draw(st.none() | st.integers(0, 2**40))}
        ]  # fmt: skip
    return {"update_id": next(_ids), "message": message}


BASE = {
    "update_id": 1,
    "message": {
        "message_id": 1,
        "date": 1_700_000_000,
        "chat": {"id": 5, "type": "private"},
        "from": {"id": 5, "is_bot": False, "first_name": "Fuzz"},
        "text": "hello",
    },
}
FIELDS = [
    "update_id",
    "message",
    "message.message_id",
    "message.date",
    "message.chat",
    "message.chat.id",
    "message.chat.type",
    "message.from",
    "message.from.id",
    "message.from.first_name",
    "message.from.is_bot",
    "message.from.language_code",
    "message.text",
    "message.caption",
    "message.photo",
    "message.entities",
    "message.reply_to_message",
    "message.media_group_id",
    "callback_query",
    "edited_message",
]


def as_body(update: dict[str, Any]) -> bytes:
    return json.dumps(update).encode()


CASES = st.one_of(
    well_typed().map(lambda u: (as_body(u), True)),
    mutated(BASE, FIELDS).map(lambda u: (as_body(u), False)),
    JSON.map(lambda v: (json.dumps(v).encode(), False)),
    JUNK_BODIES.map(lambda b: (b, False)),
)


async def test_webhook_updates_never_get_a_5xx(webhook_bot: TelegramBot) -> None:
    url = f"http://{webhook_bot.address}/telegram/webhook"
    tally = Tally(f"telegram webhook ({webhook_bot.db.url.split(':')[0]})")
    async with httpx.AsyncClient(timeout=60) as client:

        async def post(body: bytes) -> int:
            headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
            return (await client.post(url, content=body, headers=headers)).status_code

        def run(bridge: Bridge) -> None:
            @FUZZ
            @given(case=CASES)
            def one(case: tuple[bytes, bool]) -> None:
                body, typed = case
                status = bridge(post(body))
                tally.record(status, body)
                assert status < 500, body
                if typed:
                    assert status == 200, body

            one()

        try:
            await fuzz_in_thread(run)
        finally:
            tally.report()
    assert tally.tried > 0

"""Slack events and button presses, fuzzed: bodies signed with the signing secret, POSTed
through the real slack-bolt app to the real engine and Rasa, on SQLite and PostgreSQL.
No input gets a 5xx; a well-formed DM event is acknowledged (200)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.nlu.rasa_server import RasaSupervisor
from bot.storage.database import Database
from tests.channels.slack.test_slack import SlackBot, running_bot
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

pytestmark = pytest.mark.rasa

SLACK_ID = st.from_regex(r"\A[A-Z0-9]{3,11}\Z")


@pytest.fixture
async def bot(db: Database, rasa: RasaSupervisor) -> AsyncIterator[SlackBot]:
    async with running_bot(db, rasa) as running:
        yield running


def envelope(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": "T0FAKE",
        "api_app_id": "A0FAKE",
        "type": "event_callback",
        "event_id": "Ev0FUZZ",
        "event_time": 1_700_000_000,
        "event": event,
    }


@st.composite
def dm_events(draw: st.DrawFn) -> dict[str, Any]:
    """A ``message.im`` as Slack could send it, with any text (up to 40,000 characters)."""
    user = "U" + draw(SLACK_ID)
    ts = f"{draw(st.integers(1_000_000_000, 9_999_999_999))}.{draw(st.integers(0, 999_999)):06d}"
    event = {
        "type": "message",
        "channel": "D" + draw(SLACK_ID),
        "channel_type": "im",
        "user": user,
        "text": draw(st.text(max_size=40_000) | ANY_TEXT),
        "ts": ts,
        "event_ts": ts,
    }
    return envelope(event)


BASE_EVENT = envelope(
    {
        "type": "message",
        "channel": "DUFUZZ",
        "channel_type": "im",
        "user": "UFUZZ",
        "text": "hello",
        "ts": "1700000000.000100",
        "files": [{"id": "F1", "mimetype": "image/png", "size": 3}],
    }
)
EVENT_FIELDS = [
    "type",
    "event",
    "authorizations",
    "event.type",
    "event.subtype",
    "event.channel",
    "event.channel_type",
    "event.user",
    "event.text",
    "event.ts",
    "event.thread_ts",
    "event.bot_id",
    "event.files",
]
BASE_ACTION = {
    "type": "block_actions",
    "user": {"id": "UFUZZ", "name": "fuzz"},
    "team": {"id": "T0FAKE"},
    "channel": {"id": "DUFUZZ"},
    "container": {"type": "message", "message_ts": "1700000000.000200", "channel_id": "DUFUZZ"},
    "message": {"ts": "1700000000.000200", "text": "pick", "blocks": []},
    "actions": [{"action_id": "choice_0", "value": "/faq order_status", "text": {"text": "Order"}}],
}
ACTION_FIELDS = [
    "type",
    "user",
    "user.id",
    "channel",
    "channel.id",
    "container",
    "container.message_ts",
    "message",
    "message.ts",
    "message.thread_ts",
    "actions",
]


def json_body(value: object) -> tuple[bytes, str]:
    return json.dumps(value).encode(), "application/json"


def form_body(value: object) -> tuple[bytes, str]:
    return urlencode({"payload": json.dumps(value)}).encode(), "application/x-www-form-urlencoded"


CASES = st.one_of(
    dm_events().map(lambda e: (*json_body(e), True)),
    mutated(BASE_EVENT, EVENT_FIELDS).map(lambda e: (*json_body(e), False)),
    mutated(BASE_ACTION, ACTION_FIELDS).map(lambda a: (*form_body(a), False)),
    JSON.map(lambda v: (*json_body(v), False)),
    JSON.map(lambda v: (*form_body(v), False)),
    JUNK_BODIES.map(lambda b: (b, "application/json", False)),
)


async def test_signed_slack_bodies_never_get_a_5xx(bot: SlackBot) -> None:
    tally = Tally(f"slack events ({bot.engine.db.url.split(':')[0]})")
    async with httpx.AsyncClient(timeout=60) as client:

        async def post(body: bytes, content_type: str) -> int:
            headers = {"Content-Type": content_type, **bot.slack.signature_headers(body)}
            response = await client.post(bot.events_url, content=body, headers=headers)
            return response.status_code

        def run(bridge: Bridge) -> None:
            @FUZZ
            @given(case=CASES)
            def one(case: tuple[bytes, str, bool]) -> None:
                body, content_type, well_formed = case
                status = bridge(post(body, content_type))
                tally.record(status, body)
                assert status < 500, body
                if well_formed:
                    assert status == 200, body

            one()

        try:
            await fuzz_in_thread(run)
        finally:
            tally.report()
    assert tally.tried > 0

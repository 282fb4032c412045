"""Property-based fuzzing of the web chat socket (Hypothesis), on SQLite and PostgreSQL.

Whatever a client sends (valid messages, binary frames, junk JSON, deep nesting, NUL,
lone surrogates, oversized frames, odd handshakes), the server answers every frame with
an ``ack`` or an ``error`` frame, never closes the socket on it, never answers a handshake
with a 5xx, and every valid message it acknowledged is stored (the history has it).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from bot.engine.pipeline import Engine

pytestmark = pytest.mark.rasa

FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")),  # bench: FUZZ_EXAMPLES=500
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NASTY = st.sampled_from(["\x00", "\ud800", "\udfff", "\u202e", "\ufeff", "🙂", "\n", '"', "\\"])
ANY_TEXT = st.lists(st.one_of(st.characters(), NASTY), max_size=40).map("".join)
# A frame is (kind, data): "valid" frames must be acknowledged and stored.
VALID = st.builds(
    lambda text: ("valid", {"type": "message", "id": str(uuid.uuid4()), "text": text}),
    st.text(
        st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=300
    ).filter(lambda t: bool(t.strip())),
)
JSON_JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=10,
)
ALMOST = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["message", "button", "typing", ""]),
        "id": st.one_of(ANY_TEXT, st.integers(), st.text(min_size=90, max_size=130)),
    },
    optional={
        "text": st.one_of(ANY_TEXT, st.integers(), st.text(min_size=3990, max_size=4100)),
        "payload": st.one_of(ANY_TEXT, st.text(min_size=495, max_size=520)),
        "title": ANY_TEXT,
    },
)
FRAMES = st.one_of(
    VALID,
    st.tuples(st.just("json"), JSON_JUNK),
    st.tuples(st.just("json"), ALMOST),
    st.tuples(st.just("raw"), st.text(st.characters(codec="utf-8"), max_size=200)),
    st.tuples(st.just("binary"), st.binary(max_size=200)),
    st.tuples(st.just("raw"), st.integers(1, 60_000).map(lambda n: "[" * n + "]" * n)),
    st.tuples(st.just("raw"), st.integers(30_000, 200_000).map(lambda n: "x" * n)),
)


TALLY: Counter[str] = Counter()
"""Frames sent by kind and the server's answer (printed with ``-s``, for bench/RESULTS.md)."""


def encoded(kind: str, data: Any) -> str | bytes:
    if kind in ("valid", "json"):
        return json.dumps(data)  # ensure_ascii: lone surrogates travel as \ud800 escapes
    return data  # type: ignore[no-any-return]


def as_url(text: str) -> str:
    return quote(text.encode("utf-8", "surrogatepass"))  # lone surrogates as raw bytes


def answer(ws: ClientConnection) -> dict[str, Any]:
    """The server's answer to the last frame: its ack or error (replies are skipped)."""
    while True:
        frame = json.loads(ws.recv(timeout=30))
        if frame["type"] in ("ack", "error"):
            return frame  # type: ignore[no-any-return]


def chat_frames(address: str, frames: list[tuple[str, Any]]) -> None:
    session = f"fuzz-{uuid.uuid4().hex[:12]}"
    url = f"ws://{address}/ws/chat?session={session}"
    acked: list[str] = []
    with connect(url, max_size=None) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "history"
        for kind, data in frames:
            ws.send(encoded(kind, data))
            got = answer(ws)  # a close here (ConnectionClosed) fails the property
            TALLY[f"{kind} -> {got['type']}"] += 1
            if kind == "valid":
                assert got == {"type": "ack", "id": data["id"]}, got
            elif got["type"] == "ack":
                assert isinstance(data, dict)  # junk that happens to be a valid message
            if got["type"] == "ack":
                acked.append(got["id"])
            else:
                assert isinstance(got.get("message"), str) and got["message"]
    with connect(url) as ws:
        history = json.loads(ws.recv(timeout=30))
    stored = {m.get("id") for m in history["messages"] if m["direction"] == "in"}
    assert set(acked) <= stored, "an acknowledged message is not stored"


async def test_every_frame_gets_an_answer_and_valid_text_is_stored(
    web: tuple[str, Engine],
) -> None:
    address, _ = web

    @FUZZ
    @given(st.lists(FRAMES, min_size=1, max_size=4))
    def frames_are_answered(frames: list[tuple[str, Any]]) -> None:
        chat_frames(address, frames)

    TALLY.clear()
    await asyncio.to_thread(frames_are_answered)
    print("web chat frames:", dict(TALLY))


async def test_no_handshake_gets_a_server_error(web: tuple[str, Engine]) -> None:
    address, _ = web
    sessions = st.one_of(ANY_TEXT, st.from_regex(r"[A-Za-z0-9_-]{8,100}", fullmatch=True))
    origins = st.one_of(st.none(), st.just(f"http://{address}"), st.text(max_size=40))

    @FUZZ
    @given(sessions, ANY_TEXT, origins)
    def handshake(session: str, lang: str, origin: str | None) -> None:
        query = f"session={as_url(session)}&lang={as_url(lang)}"
        url = f"ws://{address}/ws/chat?{query}"
        headers = {"Origin": origin} if origin and origin.isprintable() and origin.isascii() else {}
        try:
            with connect(url, additional_headers=headers, open_timeout=10) as ws:
                assert json.loads(ws.recv(timeout=30))["type"] == "history"
                TALLY["handshake -> 101"] += 1
        except InvalidStatus as refused:
            assert refused.response.status_code < 500, refused.response.status_code
            TALLY[f"handshake -> {refused.response.status_code}"] += 1

    TALLY.clear()
    await asyncio.to_thread(handshake)
    print("handshakes:", dict(TALLY))

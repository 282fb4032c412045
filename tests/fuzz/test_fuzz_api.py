"""The REST API's bodies and queries, fuzzed beyond its OpenAPI document: any JSON (deep,
NUL, lone surrogates, huge numbers), junk bytes, odd content types and query strings,
on SQLite and PostgreSQL. ``tests/web/test_api_schema.py`` fuzzes what the document
describes; this one what it does not. No input gets a 5xx."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

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
from tests.web.test_api import Api, create
from tests.web.test_api import api as api  # the fixture: a token, a ticket rig, a server

TICKET = {
    "subject": "Printer on fire",
    "description": "since Monday",
    "priority": "high",
    "customer_name": "Asha",
    "contact": "asha@example.com",
    "language": "en",
}
UPDATE = {"status": "open", "priority": "low", "assignee_id": 1, "unassign": False}
COMMENT = {"text": "We are on it", "public": True}

ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/api/v1/tickets", TICKET),
    ("PATCH", "/api/v1/tickets/HD-1001", UPDATE),
    ("POST", "/api/v1/tickets/HD-1001/comments", COMMENT),
]
CONTENT_TYPES = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "", "application/x"]
)


def body_for(base: dict[str, Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        mutated(base, list(base)).map(lambda b: json.dumps(b).encode()),
        JSON.map(lambda v: json.dumps(v).encode()),
        JUNK_BODIES,
    )


WRITES = st.sampled_from(ROUTES).flatmap(
    lambda route: st.tuples(st.just(route[0]), st.just(route[1]), body_for(route[2]), CONTENT_TYPES)
)
# A URL carries bytes: a lone surrogate cannot be sent in one (it becomes "?" here).
URL_TEXT = ANY_TEXT.map(lambda text: text.encode("utf-8", "replace").decode())
QUERY_KEYS = st.sampled_from(
    ["status", "priority", "assignee", "q", "page", "per_page", "days", "x"]
)
READS = st.tuples(
    st.sampled_from(["/api/v1/tickets", "/api/v1/tickets/export.csv", "/api/v1/numbers"]),
    st.dictionaries(QUERY_KEYS, URL_TEXT | st.integers().map(str), max_size=3),
)
REFERENCES = URL_TEXT.map(lambda ref: "/api/v1/tickets/" + quote(ref, safe=""))


async def test_api_bodies_and_queries_never_get_a_5xx(api: Api) -> None:
    await create(api)  # HD-1001, for the PATCH and the comments
    tally = Tally(f"REST API ({api.rig.rig.db.url.split(':')[0]})")

    async def write(method: str, path: str, body: bytes, content_type: str) -> int:
        headers = {"Content-Type": content_type} if content_type else {}
        response = await api.client.request(method, path, content=body, headers=headers)
        return response.status_code

    async def read(path: str, query: dict[str, str]) -> int:
        return (await api.client.get(path, params=query)).status_code

    def run(bridge: Bridge) -> None:
        @FUZZ
        @given(case=st.one_of(WRITES, READS, REFERENCES))
        def one(case: Any) -> None:
            if isinstance(case, str):
                status = bridge(read(case, {}))
            elif len(case) == 4:
                status = bridge(write(*case))
            else:
                status = bridge(read(*case))
            tally.record(status, case)
            assert status < 500, case

        one()

    try:
        await fuzz_in_thread(run)
    finally:
        tally.report()
    assert tally.tried > 0

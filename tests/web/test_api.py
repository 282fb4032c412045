"""The tickets REST API over real HTTP: token auth, CRUD, pagination, filters, clear 4xx,
CSV export, and a public comment reaching the customer on their channel."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from bot.desk.policy import Conflict
from bot.storage.api_tokens import ApiTokenRepository
from bot.storage.database import Database
from bot.storage.models import TicketStatus
from bot.storage.repositories import ConversationRepository, MessageRepository
from bot.tickets.present import tickets_csv
from bot.web.api import TicketApi
from tests.support.server import serve
from tests.support.tickets import TicketRig, make_ticket_rig


class Api:
    def __init__(self, rig: TicketRig, client: httpx.AsyncClient, token: str) -> None:
        self.rig = rig
        self.client = client
        self.token = token


@pytest.fixture
async def api(db: Database) -> AsyncIterator[Api]:
    rig = await make_ticket_rig(db)
    async with db.transaction() as session:
        token, _ = await ApiTokenRepository(session).add("crm")
        await ApiTokenRepository(session).add("old")
        await ApiTokenRepository(session).revoke("old")
    app = Starlette()
    TicketApi(rig.service).install(app)
    async with serve(app) as address:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=f"http://{address}", headers=headers) as client:
            yield Api(rig, client, token)


async def create(api: Api, **fields: object) -> dict[str, object]:
    body = {"subject": "Printer on fire", **fields}
    response = await api.client.post("/api/v1/tickets", json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_openapi_document_needs_no_token(api: Api) -> None:
    response = await api.client.get("/api/v1/openapi.json", headers={"Authorization": ""})
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) >= {"/api/v1/tickets", "/api/v1/tickets/{reference}"}


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer nope", "Basic abc", "Bearer " + "x" * 300]
)
async def test_requests_without_a_valid_token_get_401(api: Api, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with httpx.AsyncClient(base_url=str(api.client.base_url), headers=headers) as anon:
        response = await anon.get("/api/v1/tickets")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
async def test_the_auth_scheme_is_case_insensitive(api: Api, scheme: str) -> None:
    # RFC 7235 section 2.1: the scheme is a case-insensitive token; kept on purpose.
    headers = {"Authorization": f"{scheme} {api.token}"}
    assert (await api.client.get("/api/v1/tickets", headers=headers)).status_code == 200
    wrong = {"Authorization": f"{scheme} not-the-token"}
    assert (await api.client.get("/api/v1/tickets", headers=wrong)).status_code == 401


async def test_a_revoked_token_is_refused(api: Api) -> None:
    async with api.rig.rig.db.transaction() as session:
        token, _ = await ApiTokenRepository(session).add("temp")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await api.client.get("/api/v1/tickets", headers=headers)).status_code == 200
    async with api.rig.rig.db.transaction() as session:
        assert await ApiTokenRepository(session).revoke("temp")
    assert (await api.client.get("/api/v1/tickets", headers=headers)).status_code == 401


async def test_create_get_update_and_events(api: Api) -> None:
    agent = await api.rig.rig.add_agent("maya")
    created = await create(
        api, description="Smoke everywhere", priority="urgent", customer_name="Dev"
    )
    reference = created["reference"]
    assert reference == "HD-1001"
    assert created["status"] == "new" and created["priority"] == "urgent"
    assert created["customer"] == {"id": created["customer"]["id"], "name": "Dev"}  # type: ignore[index]
    assert created["sla"]["first_response_due"] is not None  # type: ignore[index]
    events: list[dict[str, str]] = created["events"]  # type: ignore[assignment]
    assert [(e["kind"], e["actor"]) for e in events] == [("created", "api:crm")]

    response = await api.client.patch(
        f"/api/v1/tickets/{reference}",
        json={"status": "open", "priority": "high", "assignee_id": agent},
    )
    assert response.status_code == 200, response.text
    ticket = response.json()
    assert (ticket["status"], ticket["priority"]) == ("open", "high")
    assert ticket["assignee"] == {"id": agent, "name": "maya"}
    assert [e["kind"] for e in ticket["events"]] == ["created", "priority", "assigned", "status"]

    response = await api.client.post(
        f"/api/v1/tickets/{reference}/comments", json={"text": "Called the fire brigade"}
    )
    assert response.status_code == 201
    assert response.json()["events"][-1]["kind"] == "note"
    got = await api.client.get(f"/api/v1/tickets/{str(reference).lower()}")
    assert got.status_code == 200 and got.json()["reference"] == reference


async def test_public_comment_reaches_the_customer(api: Api) -> None:
    t = api.rig
    await t.push("/ticket Parcel lost in transit")
    await t.push("Tracking number ABC123 has not moved for ten days.")
    before = len(t.rig.sent())
    response = await api.client.post(
        "/api/v1/tickets/HD-1001/comments",
        json={"text": "We have asked the courier.", "public": True},
    )
    assert response.status_code == 201
    assert response.json()["status"] == "pending"
    assert [m.text for m in t.rig.sent()[before:]] == [
        t.phrase("ticket_answered", reference="HD-1001", text="We have asked the courier.")
    ]


async def test_list_paginates_filters_and_searches(api: Api) -> None:
    for n in range(5):
        await create(api, subject=f"Issue {n}", priority="high" if n % 2 else "low")
    await create(api, subject="Refund for 100% off_sale item")
    page = (await api.client.get("/api/v1/tickets", params={"per_page": 2})).json()
    assert page["total"] == 6 and page["page"] == 1 and page["per_page"] == 2
    assert [t["subject"] for t in page["items"]] == ["Refund for 100% off_sale item", "Issue 4"]
    last = (await api.client.get("/api/v1/tickets", params={"per_page": 4, "page": 2})).json()
    assert [t["subject"] for t in last["items"]] == ["Issue 1", "Issue 0"]
    high = (await api.client.get("/api/v1/tickets", params={"priority": "high"})).json()
    assert sorted(t["subject"] for t in high["items"]) == ["Issue 1", "Issue 3"]
    # LIKE wildcards in the search are literal characters.
    found = (await api.client.get("/api/v1/tickets", params={"q": "100% OFF_"})).json()
    assert [t["subject"] for t in found["items"]] == ["Refund for 100% off_sale item"]
    assert (await api.client.get("/api/v1/tickets", params={"q": "%"})).json()["total"] == 1
    none = (await api.client.get("/api/v1/tickets", params={"status": "closed"})).json()
    assert none == {"items": [], "page": 1, "per_page": 25, "total": 0}


@pytest.mark.parametrize(
    "params",
    [
        {"page": "0"},
        {"page": "x"},
        {"per_page": "101"},
        {"per_page": "-1"},
        {"status": "lost"},
        {"priority": "meh"},
        {"unassigned": "maybe"},
        {"assignee_id": "1e3"},
        {"q": "x" * 201},
        {"colour": "red"},
    ],
)
async def test_bad_list_queries_are_422(api: Api, params: dict[str, str]) -> None:
    response = await api.client.get("/api/v1/tickets", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"


async def test_bad_bodies_get_clear_errors(api: Api) -> None:
    post = api.client.post
    url = "/api/v1/tickets"
    assert (await post(url, content=b"{", headers={"Content-Type": "application/json"})).json()[
        "error"
    ]["code"] == "invalid_json"
    assert (await post(url, content=b"subject=x")).status_code == 415
    big = b'{"subject": "' + b"x" * 70_000 + b'"}'
    assert (
        await post(url, content=big, headers={"Content-Type": "application/json"})
    ).status_code == 413
    body: object
    for body in ([], {"subject": ""}, {"subject": "   "}, {"subject": "a", "colour": 1},
                 {"subject": "a", "priority": "meh"}, {"subject": 5}):  # fmt: skip
        response = await post(url, json=body)
        assert response.status_code == 422, body
        assert response.json()["error"]["details"]
    await create(api)
    bad_patch = await api.client.patch("/api/v1/tickets/HD-1001", json={"status": "new"})
    assert bad_patch.status_code == 422
    both = await api.client.patch(
        "/api/v1/tickets/HD-1001", json={"assignee_id": 1, "unassign": True}
    )
    assert both.status_code == 422
    nobody = await api.client.patch("/api/v1/tickets/HD-1001", json={"assignee_id": 999})
    assert nobody.status_code == 404
    assert (await api.client.get("/api/v1/tickets/HD-9999")).status_code == 404
    assert (await api.client.get("/api/v1/tickets/%00")).status_code == 404
    # A path no route can take (a newline in it) still gets a JSON error.
    unroutable = await api.client.get("/api/v1/tickets/HD-1001%0Ax")
    assert unroutable.status_code == 404
    assert unroutable.json()["error"]["code"] == "not_found"
    nul = await post(url, json={"subject": "a\x00b"})
    assert nul.status_code == 422
    empty = await api.client.post("/api/v1/tickets/HD-1001/comments", json={"text": " "})
    assert empty.status_code == 422


async def test_csv_export(api: Api) -> None:
    await create(api, subject='=HYPERLINK("http://evil")', priority="high")
    await create(api, subject="Plain, with a comma", priority="low")
    response = await api.client.get("/api/v1/tickets/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["subject"] for r in rows] == [
        "Plain, with a comma",
        '\'=HYPERLINK("http://evil")',  # never a formula in a spreadsheet
    ]
    assert rows[0]["reference"] == "HD-1002" and rows[0]["priority"] == "low"
    assert rows[0]["first_response_due"]
    high = await api.client.get("/api/v1/tickets/export.csv", params={"priority": "high"})
    assert len(list(csv.DictReader(io.StringIO(high.text)))) == 1


async def test_deep_and_unstorable_bodies_get_4xx(api: Api) -> None:
    json_type = {"Content-Type": "application/json"}
    for depth in (40, 5000):
        body = b'{"subject": ' + b"[" * depth + b"]" * depth + b"}"
        response = await api.client.post("/api/v1/tickets", content=body, headers=json_type)
        assert response.status_code in (400, 422), depth
        assert response.json()["error"]["code"] in ("invalid_json", "invalid")
    lone = b'{"subject": "a\\ud800b"}'
    response = await api.client.post("/api/v1/tickets", content=lone, headers=json_type)
    assert response.status_code == 422
    assert "surrogate" in response.json()["error"]["message"]


def test_csv_defuses_formulas_behind_whitespace_and_newlines() -> None:
    risky = [" =1+1", "\n=1+1", "\r\n+1", "\t=1", " \n @SUM(A1)", "  -2+3", "=1", "\u3000=1"]
    safe = ["Plain", "a = b", "email@example.com"]
    rows = [_ticket_row(subject) for subject in risky + safe]
    parsed = list(csv.DictReader(io.StringIO(tickets_csv(rows))))
    subjects = [row["subject"] for row in parsed]
    assert subjects == ["'" + s for s in risky] + safe


def _ticket_row(subject: str) -> dict[str, object]:
    return {
        "reference": "HD-1",
        "subject": subject,
        "customer": {"id": 1, "name": None},
        "assignee": None,
        "sla": {},
    }


async def test_the_numbers_need_a_token_and_count_conversations(api: Api) -> None:
    # One conversation with one customer message today: what the numbers count.
    async with api.rig.rig.db.transaction() as session:
        conversation = await ConversationRepository(session).get_or_create(
            channel="webchat", conversation_key="n1", user_id="n1", user_name="Nia"
        )
        await session.flush()
        await MessageRepository(session).add_inbound(
            conversation=conversation, text="hello", payload=None, platform_message_id="n1-1"
        )
    anonymous = await api.client.get("/api/v1/numbers", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    response = await api.client.get("/api/v1/numbers", params={"days": 7})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["conversations"] == 1
    assert {"deflection", "handoff", "csat", "sla", "per_channel"} <= set(data)
    bad = await api.client.get(
        "/api/v1/numbers", params={"start": "2026-11-10", "end": "2026-11-01"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_query"
    unknown = await api.client.get("/api/v1/numbers", params={"start": "2026-11-01"})
    assert unknown.status_code == 422


async def test_a_refused_patch_changes_nothing(api: Api) -> None:
    agent = await api.rig.rig.add_agent("maya")
    created = await create(api)
    reference = created["reference"]
    url = f"/api/v1/tickets/{reference}"
    # An unknown agent after a valid priority: the whole PATCH is refused.
    missing = await api.client.patch(url, json={"priority": "high", "assignee_id": 999})
    assert missing.status_code == 404, missing.text
    after = (await api.client.get(url)).json()
    assert (after["priority"], after["assignee"], after["status"]) == ("normal", None, "new")
    assert [e["kind"] for e in after["events"]] == ["created"]
    # A refused status move (the 409 a concurrent change can cause) undoes the rest too.
    assert (await api.client.patch(url, json={"status": "open"})).status_code == 200
    with pytest.raises(Conflict):
        await api.rig.service.update(
            int(str(created["id"])),
            actor="api:crm",
            priority="urgent",
            assignee_id=agent,
            status=TicketStatus.NEW,
        )
    after = (await api.client.get(url)).json()
    assert (after["priority"], after["assignee"], after["status"]) == ("normal", None, "open")
    assert [e["kind"] for e in after["events"]] == ["created", "status"]


@pytest.mark.parametrize(
    "body",
    [
        {"assignee_id": "1"},
        {"assignee_id": 1.0},
        {"assignee_id": True},
        {"unassign": "yes"},
        {"unassign": 1},
        {"unassign": "true"},
    ],
)
async def test_patch_takes_json_types_only(api: Api, body: dict[str, object]) -> None:
    await api.rig.rig.add_agent("maya")
    await create(api)
    response = await api.client.patch("/api/v1/tickets/HD-1001", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]
    after = (await api.client.get("/api/v1/tickets/HD-1001")).json()
    assert after["assignee"] is None

"""Console ticket pages over HTTP: list with filters and search, detail, assign, status,
priority, public reply (reaches the customer), internal note (does not), CSV export,
login and CSRF required."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import pytest

from bot.storage.database import Database
from bot.storage.models import TicketStatus
from bot.web.app import create_web_app
from bot.web.console.tickets import TicketPages
from tests.support.console import PASSWORD, AgentClient, make_console
from tests.support.server import serve
from tests.support.tickets import TicketRig, make_ticket_rig


@pytest.fixture
async def desk(db: Database) -> AsyncIterator[tuple[TicketRig, AgentClient, int]]:
    t = await make_ticket_rig(db)
    maya = await t.rig.add_agent("maya", password=PASSWORD)
    console = make_console(t.rig)
    console.extra_routes += TicketPages(console.sessions, t.service).routes()

    async def readiness() -> dict[str, object]:
        return {"ready": True}

    app = create_web_app(engine=t.rig.engine, webchat=None, readiness=readiness, console=console)
    async with serve(app) as address:
        client = AgentClient(f"http://{address}")
        assert (await client.login("maya")).status_code == 303
        yield t, client, maya
        await client.close()


async def chat_ticket(t: TicketRig, user: str, summary: str) -> None:
    await t.push(f"/ticket {summary}", user=user)
    await t.push("Order 5521, delivered on Monday, details here.", user=user)


async def test_list_filter_search_and_export(
    desk: tuple[TicketRig, AgentClient, int],
) -> None:
    t, client, _ = desk
    await chat_ticket(t, "alice", "Blender arrived broken")
    await chat_ticket(t, "bob", "Where is the <b>invoice</b>?")
    await t.service.create(subject="Urgent outage", description="", priority="urgent", actor="x")
    page = await client.http.get("/console/tickets")
    assert page.status_code == 200
    assert page.text.count('class="ticket-row') == 3
    assert "&lt;b&gt;invoice&lt;/b&gt;" in page.text  # customer text is escaped
    found = await client.http.get("/console/tickets", params={"q": "blender"})
    assert found.text.count('class="ticket-row') == 1 and "HD-1001" in found.text
    urgent = await client.http.get("/console/tickets", params={"priority": "urgent"})
    assert urgent.text.count('class="ticket-row') == 1 and "Urgent outage" in urgent.text
    bad = await client.http.get("/console/tickets", params={"status": "lost"})
    assert bad.status_code == 400
    export = await client.http.get("/console/tickets/export.csv", params={"priority": "high"})
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [r["reference"] for r in rows] == ["HD-1001"]


async def test_detail_and_actions(desk: tuple[TicketRig, AgentClient, int]) -> None:
    t, client, maya = desk
    await chat_ticket(t, "alice", "Blender arrived broken")
    before = len(t.rig.sent())
    assert (await client.post("/console/tickets/1/assign", {"assignee": "me"})).status_code == 303
    await client.post("/console/tickets/1/priority", {"priority": "urgent"})
    await client.post("/console/tickets/1/note", {"text": "Check the warehouse batch"})
    await client.post("/console/tickets/1/reply", {"text": "A new one is on its way."})
    assert [m.text for m in t.rig.sent()[before:]] == [
        t.phrase("ticket_answered", reference="HD-1001", text="A new one is on its way.")
    ]
    await client.post("/console/tickets/1/status", {"status": "resolved"})
    (ticket,) = await t.tickets()
    assert ticket.assignee_id == maya
    assert ticket.priority == "urgent"
    assert ticket.status == TicketStatus.RESOLVED
    detail = await client.http.get("/console/tickets/1")
    assert detail.status_code == 200
    assert "Check the warehouse batch" in detail.text and "internal note" in detail.text
    assert "A new one is on its way." in detail.text
    # A bad choice comes back as a message, not a crash.
    bad = await client.post("/console/tickets/1/priority", {"priority": "whenever"})
    assert bad.status_code == 303
    assert "priority must be one of" in (await client.http.get("/console/tickets/1")).text
    assert (await client.http.get("/console/tickets/99")).status_code == 404


async def test_login_and_csrf_are_required(desk: tuple[TicketRig, AgentClient, int]) -> None:
    t, client, _ = desk
    await chat_ticket(t, "alice", "Blender arrived broken")
    forged = await client.post("/console/tickets/1/note", {"text": "x"}, csrf="forged")
    assert forged.status_code == 403
    anonymous = AgentClient(client.base)
    assert (await anonymous.http.get("/console/tickets")).status_code == 303
    assert (await anonymous.http.get("/console/tickets/export.csv")).status_code == 401
    assert (await anonymous.post("/console/tickets/1/note", {"text": "x"})).status_code == 401
    await anonymous.close()
    assert [k for k, _, _ in await t.events(1)] == ["created"]

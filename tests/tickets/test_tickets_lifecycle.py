"""Ticket lifecycle through the service: agent replies reach the customer, the customer's
answers land on the ticket, resolution asks for CSAT, reopen, close after the grace."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from bot.desk.policy import Conflict, DeskError, NotFound
from bot.engine.gate import store_inbound
from bot.events import DeskEvent, EventKind
from bot.storage.database import Database
from bot.storage.models import SurveyRequest, SurveyResponse, TicketStatus
from bot.storage.tickets import TicketStore
from tests.support.tickets import TicketRig, make_ticket_rig


async def ticket_for(t: TicketRig, user: str = "alice") -> int:
    await t.push("/ticket My blender arrived broken", user=user)
    await t.push("Order 5521, delivered on Monday, the jar is cracked.", user=user)
    tickets = await t.tickets()
    return tickets[-1].id


async def test_reply_pending_answer_resolve_csat_reopen(db: Database) -> None:
    t = await make_ticket_rig(db)
    ticket_id = await ticket_for(t)
    agent = await t.rig.add_agent("maya")
    before = len(t.rig.sent())

    await t.service.assign(ticket_id, agent, actor="maya")
    await t.service.public_reply(
        ticket_id, "Sorry! Could you send a photo of the jar?", actor="maya", agent_id=agent
    )
    sent = t.rig.sent()[before:]
    assert [m.text for m in sent] == [
        t.phrase(
            "ticket_answered", reference="HD-1001", text="Sorry! Could you send a photo of the jar?"
        )
    ]
    (ticket,) = await t.tickets()
    assert ticket.status == TicketStatus.PENDING
    assert ticket.first_responded_at is not None
    assert ticket.assignee_id == agent

    # The customer's answer lands on the ticket (no NLU guess, no bot answer).
    assert await t.push("Here it is, the crack is on the side") == [
        t.phrase("ticket_reply_added", reference="HD-1001")
    ]
    (ticket,) = await t.tickets()
    assert ticket.status == TicketStatus.OPEN

    await t.service.set_status(ticket_id, TicketStatus.RESOLVED, actor="maya")
    texts = [m.text for m in t.rig.sent()[-2:]]
    assert texts == [
        t.phrase("ticket_resolved", reference="HD-1001"),
        t.phrase("csat_request"),
    ]
    payloads = [b.payload for b in t.rig.sent()[-1].buttons]
    assert payloads == [f"/survey 1 {n}" for n in range(1, 6)]
    assert await t.push("5 ★", payload=payloads[4]) == [t.phrase("survey_thanks")]
    async with db.transaction() as session:
        scores = [(r.request_id, r.score) for r in await session.scalars(select(SurveyResponse))]
        [request] = await session.scalars(select(SurveyRequest))
    assert scores == [(1, 5)]
    assert (request.kind, request.occasion, request.ticket_id) == ("csat", "ticket_resolved", 1)

    # A clear, unrelated question after resolution is answered as usual ...
    assert (await t.push("hello"))[0] == t.phrase("greet")
    # ... but words the bot cannot place reopen the ticket.
    assert await t.push("the new jar is cracked too") == [
        t.phrase("ticket_reopened", reference="HD-1001")
    ]
    (ticket,) = await t.tickets()
    assert ticket.status == TicketStatus.OPEN and ticket.resolved_at is None

    kinds = [(kind, actor) for kind, actor, _ in await t.events(ticket_id)]
    assert kinds == [
        ("created", "customer"),
        ("assigned", "maya"),
        ("public_reply", "maya"),
        ("status", "maya"),
        ("customer_reply", "customer"),
        ("status", "customer"),
        ("status", "maya"),
        ("customer_reply", "customer"),
        ("status", "customer"),
    ]
    details = [detail for kind, _, detail in await t.events(ticket_id) if kind == "status"]
    assert details == ["new -> pending", "pending -> open", "open -> resolved", "resolved -> open"]


class Snapshots:
    """Set as the desk's relay: notes, as each event is published, what the customer had
    been sent by then. A reply is sent only after its turn committed, so an event noted
    before the turn's reply was published before the commit."""

    def __init__(self, t: TicketRig) -> None:
        self.t = t
        self.seen: list[tuple[DeskEvent, list[str]]] = []

    def forward(self, event: DeskEvent) -> None:
        self.seen.append((event, [m.text for m in self.t.rig.sent()]))

    def tickets(self, ticket_id: int) -> list[list[str]]:
        return [
            sent
            for event, sent in self.seen
            if event.kind == EventKind.TICKET and event.data == {"ticket_id": ticket_id}
        ]


async def test_the_customers_answer_is_announced_after_its_turn_committed(db: Database) -> None:
    """The consoles reload a ticket on its event: the customer's answer (and a reopening)
    must be announced once committed, live and when recovery answers it after a crash."""
    t = await make_ticket_rig(db)
    ticket_id = await ticket_for(t)
    await t.service.public_reply(ticket_id, "Could you send a photo?", actor="maya")
    snapshots = Snapshots(t)
    t.rig.desk.events.relay = snapshots
    added = t.phrase("ticket_reply_added", reference="HD-1001")
    assert await t.push("Here it is, the crack is on the side") == [added]
    [when] = snapshots.tickets(ticket_id)
    assert when[-1] == added  # the turn's reply was out (committed) before the event

    # Resolved; then the customer writes and the worker dies before answering: recovery
    # answers it at start-up, and announces the reopened ticket after its commit too.
    await t.service.set_status(ticket_id, TicketStatus.RESOLVED, actor="maya")
    snapshots.seen.clear()
    stored = await store_inbound(db, t.rig.channel.message("HD-1001 broke again, same crack"))
    assert stored is not None
    assert await t.rig.engine.recover() == 1
    reopened = t.phrase("ticket_reopened", reference="HD-1001")
    [when] = snapshots.tickets(ticket_id)
    assert when[-1] == reopened
    (ticket,) = await t.tickets()
    assert ticket.status == TicketStatus.OPEN


async def test_note_is_never_sent_and_needs_input_is(db: Database) -> None:
    t = await make_ticket_rig(db)
    ticket_id = await ticket_for(t)
    before = len(t.rig.sent())
    await t.service.note(ticket_id, "Customer is a VIP; check the warehouse", actor="maya")
    assert t.rig.sent()[before:] == []
    await t.service.set_status(ticket_id, TicketStatus.PENDING, actor="maya")
    assert [m.text for m in t.rig.sent()[before:]] == [
        t.phrase("ticket_needs_input", reference="HD-1001")
    ]


async def test_close_after_grace_period(db: Database) -> None:
    t = await make_ticket_rig(db)
    ticket_id = await ticket_for(t)
    await t.service.set_status(ticket_id, TicketStatus.RESOLVED, actor="maya")
    t.rig.clock.advance(hours=71)
    await t.service.sweep()
    assert (await t.tickets())[0].status == TicketStatus.RESOLVED
    t.rig.clock.advance(hours=2)
    await t.service.sweep()
    (ticket,) = await t.tickets()
    assert ticket.status == TicketStatus.CLOSED and ticket.closed_at is not None
    # A closed ticket is not reopened by chat; the bot handles the message.
    assert await t.push("hello") == [t.phrase("greet")]


async def test_a_sweep_leaves_a_ticket_another_worker_closed_first(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every worker sweeps: one whose list of tickets to close is stale (another worker
    closed one between that list and the row lock) must leave that ticket alone."""
    t = await make_ticket_rig(db)
    ticket_id = await ticket_for(t)
    await t.service.set_status(ticket_id, TicketStatus.RESOLVED, actor="maya")
    t.rig.clock.advance(hours=73)
    await t.service.sweep()  # the other worker's sweep closes it
    history = await t.events(ticket_id)

    async def stale(self: TicketStore, cutoff: datetime) -> list[int]:
        return [ticket_id]  # as listed just before the other worker's commit

    monkeypatch.setattr(TicketStore, "resolved_before", stale)
    published: list[DeskEvent] = []
    monkeypatch.setattr(t.service.events, "publish", published.append)
    await t.service.sweep()
    assert published == []  # no console is told it changed
    assert await t.events(ticket_id) == history
    (ticket,) = await t.tickets()
    assert ticket.status == TicketStatus.CLOSED


async def test_bad_agent_input_is_a_clear_error(db: Database) -> None:
    t = await make_ticket_rig(db)
    ticket_id = await ticket_for(t)
    with pytest.raises(Conflict):
        await t.service.set_status(ticket_id, TicketStatus.NEW, actor="maya")
    with pytest.raises(DeskError):
        await t.service.public_reply(ticket_id, "   ", actor="maya")
    with pytest.raises(DeskError):
        await t.service.set_priority(ticket_id, "whenever", actor="maya")
    with pytest.raises(NotFound):
        await t.service.note(999, "x", actor="maya")
    with pytest.raises(NotFound):
        await t.service.assign(ticket_id, 999, actor="maya")

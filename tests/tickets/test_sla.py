"""SLA arithmetic in business hours (weekends, holidays, time zones, DST) and
breach warnings that fire once, with a controllable clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.events import EventKind
from bot.reports.numbers_queries import numbers_for_period
from bot.storage.database import Database
from bot.storage.models import Ticket, TicketStatus, aware
from bot.tickets.alerts import SlackSlaNotifier
from bot.tickets.business_hours import BusinessHours
from bot.tickets.rules import pause_sla, resume_sla, stamp_sla
from bot.tickets.service import SlaAlert
from bot.tickets.sla import SlaError, add_business_time, business_time_between
from bot.web.console.tickets import _row
from tests.support.tickets import HOURS, make_ticket_rig, ticket_policy

KOLKATA = ZoneInfo("Asia/Kolkata")
NEW_YORK = ZoneInfo("America/New_York")
NEVER = datetime.min.replace(tzinfo=UTC)


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


def test_inside_one_day() -> None:
    start = local(KOLKATA, 2026, 11, 25, 10, 0)  # Wednesday
    assert add_business_time(HOURS, start, timedelta(hours=4)) == local(
        KOLKATA, 2026, 11, 25, 14, 0
    )


def test_overnight_and_over_the_weekend() -> None:
    friday_five = local(KOLKATA, 2026, 11, 27, 17, 0)
    # one hour on Friday, three on Monday
    assert add_business_time(HOURS, friday_five, timedelta(hours=4)) == local(
        KOLKATA, 2026, 11, 30, 12, 0
    )
    # a full 40 h target from Wednesday 10:00: Wed 8 + Thu 9 + Fri 9 + Mon 9 = 35, Tue 5 -> 14:00
    wednesday = local(KOLKATA, 2026, 11, 25, 10, 0)
    assert add_business_time(HOURS, wednesday, timedelta(hours=40)) == local(
        KOLKATA, 2026, 12, 1, 14, 0
    )


def test_created_while_closed_starts_at_opening() -> None:
    saturday = local(KOLKATA, 2026, 11, 28, 13, 0)
    assert add_business_time(HOURS, saturday, timedelta(hours=1)) == local(
        KOLKATA, 2026, 11, 30, 10, 0
    )
    before_opening = local(KOLKATA, 2026, 11, 25, 7, 30)
    assert add_business_time(HOURS, before_opening, timedelta(minutes=30)) == local(
        KOLKATA, 2026, 11, 25, 9, 30
    )


def test_a_target_ending_exactly_at_closing_is_due_at_closing() -> None:
    start = local(KOLKATA, 2026, 11, 25, 17, 0)
    assert add_business_time(HOURS, start, timedelta(hours=1)) == local(
        KOLKATA, 2026, 11, 25, 18, 0
    )


def test_holidays_and_lunch_breaks() -> None:
    hours = BusinessHours.parse(
        timezone="Asia/Kolkata",
        weekly={"mon-fri": "09:00-13:00, 14:00-18:00"},
        closed_on=[date(2026, 11, 26)],
    )
    start = local(KOLKATA, 2026, 11, 25, 12, 0)
    # 1 h before lunch, 4 h after, Thursday is a holiday, 3 h on Friday
    assert add_business_time(hours, start, timedelta(hours=8)) == local(
        KOLKATA, 2026, 11, 27, 12, 0
    )


def test_time_zones_are_the_desks_not_the_customers() -> None:
    # 03:30 UTC is 09:00 in Kolkata: open, though it is night in New York.
    start = datetime(2026, 11, 25, 3, 30, tzinfo=UTC)
    due = add_business_time(HOURS, start, timedelta(hours=2))
    assert due == datetime(2026, 11, 25, 5, 30, tzinfo=UTC)
    assert due.astimezone(NEW_YORK).hour == 0


def test_daylight_saving_change_counts_real_hours() -> None:
    hours = BusinessHours.parse(timezone="America/New_York", weekly={"mon-sun": "00:00-24:00"})
    # Clocks go back on 2026-11-01 at 02:00: that Sunday has 25 hours.
    start = local(NEW_YORK, 2026, 11, 1, 0, 0)
    due = add_business_time(hours, start, timedelta(hours=24))
    assert due == local(NEW_YORK, 2026, 11, 1, 23, 0)
    assert business_time_between(hours, start, due) == timedelta(hours=24)


def test_between_and_always_open() -> None:
    friday = local(KOLKATA, 2026, 11, 27, 17, 0)
    monday = local(KOLKATA, 2026, 11, 30, 10, 0)
    assert business_time_between(HOURS, friday, monday) == timedelta(hours=2)
    assert business_time_between(HOURS, monday, friday) == timedelta(0)
    always = BusinessHours.always()
    assert add_business_time(always, friday, timedelta(hours=5)) == friday + timedelta(hours=5)


def test_a_schedule_that_never_opens_is_an_error() -> None:
    hours = BusinessHours.parse(
        timezone="UTC",
        weekly={"mon": "09:00-10:00"},
        closed_on=[date(2026, 11, 30) + timedelta(weeks=n) for n in range(60)],
    )
    with pytest.raises(SlaError):
        add_business_time(hours, datetime(2026, 11, 25, tzinfo=UTC), timedelta(hours=2))


class Recorder:
    def __init__(self) -> None:
        self.alerts: list[SlaAlert] = []

    async def sla_alert(self, alert: SlaAlert) -> None:
        self.alerts.append(alert)


async def test_warnings_and_breaches_fire_once(db: Database) -> None:
    t = await make_ticket_rig(db)  # clock: Wednesday 11:30 Kolkata; warn at 50 %
    recorder = Recorder()
    t.service.notifiers.append(recorder)
    ticket_id = await t.service.create(
        subject="Payment failed", description="card declined", priority="high", actor="api"
    )
    (ticket,) = await t.tickets()
    # high: 4 h first response, 24 h resolution, in business hours
    assert aware(ticket.first_response_due or NEVER) == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert aware(ticket.first_response_warn_at or NEVER) == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)

    async with t.rig.desk.events.subscribe() as events:
        assert await t.service.sweep() == []
        t.rig.clock.advance(hours=2, minutes=1)
        first = await t.service.sweep()
        assert [a.kind for a in first] == ["first_response_warning"]
        assert await t.service.sweep() == []  # once
        t.rig.clock.advance(hours=2)
        assert [a.kind for a in await t.service.sweep()] == ["first_response_breach"]
        assert await t.service.sweep() == []
        seen = []
        while not events._queue.empty():
            event = await events.next()
            if event.kind == EventKind.TICKET and "sla" in event.data:
                seen.append(event.data["sla"])
    assert seen == ["first_response_warning", "first_response_breach"]
    assert [a.kind for a in recorder.alerts] == seen
    assert all(a.ticket_id == ticket_id for a in recorder.alerts)

    # Answering stops the first-response clock; resolution keeps running (still open).
    await t.service.public_reply(ticket_id, "Looking into it", actor="maya", then=TicketStatus.OPEN)
    t.rig.clock.advance(days=7)
    assert [a.kind for a in await t.service.sweep()] == ["resolution_breach"]
    assert await t.service.sweep() == []


async def test_the_resolution_clock_stops_while_the_ticket_waits_on_the_customer(
    db: Database,
) -> None:
    t = await make_ticket_rig(db)  # Wednesday 11:30 Kolkata; high: 24 business hours
    ticket_id = await t.service.create(
        subject="Refund missing", description="", priority="high", actor="api"
    )
    (ticket,) = await t.tickets()
    first_due = aware(ticket.resolution_due or NEVER)
    t.rig.clock.advance(hours=1)
    paused_at = t.rig.clock.now()
    await t.service.public_reply(ticket_id, "Which order was it?", actor="maya")  # -> pending
    t.rig.clock.advance(days=7)  # far past the first due time, waiting on the customer
    assert await t.service.sweep() == []
    (ticket,) = await t.tickets()
    assert ticket.sla_paused_at is not None and aware(ticket.resolution_due or NEVER) == first_due
    # The dashboard counts it neither met nor breached while the clock stands still.
    created = aware(ticket.created_at)
    async with db.transaction() as session:
        numbers = await numbers_for_period(
            session,
            start=created - timedelta(days=1),
            end=created + timedelta(days=1),
            answer_threshold=0.5,
            now=t.rig.clock.now(),
        )
    assert (numbers.sla.resolution.count, numbers.sla.resolution.total) == (0, 0)
    assert (numbers.sla.first_response.count, numbers.sla.first_response.total) == (1, 1)
    resumed_at = t.rig.clock.now()
    await t.service.set_status(ticket_id, TicketStatus.OPEN, actor="maya")
    (ticket,) = await t.tickets()
    due = aware(ticket.resolution_due or NEVER)
    # The open time that was left when it paused is what is left now.
    assert business_time_between(HOURS, resumed_at, due) == business_time_between(
        HOURS, paused_at, first_due
    )
    waited = business_time_between(HOURS, paused_at, resumed_at)
    assert ticket.sla_paused_s == int(waited.total_seconds()) > 0
    assert ticket.sla_paused_at is None
    t.rig.clock.advance(hours=1)
    assert await t.service.sweep() == []
    t.rig.clock.advance(seconds=(due - t.rig.clock.now()).total_seconds() + 60)
    assert [a.kind for a in await t.service.sweep()] == ["resolution_breach"]


def test_waiting_on_the_customer_does_not_undo_a_breach() -> None:
    sla = ticket_policy().sla
    created = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)  # Wednesday 11:30 Kolkata
    ticket = Ticket(subject="x", priority="high", created_at=created, sla_paused_s=0)
    stamp_sla(ticket, sla)
    due = aware(ticket.resolution_due or NEVER)
    pause_sla(ticket, due + timedelta(hours=1))  # already overdue
    resume_sla(ticket, sla, due + timedelta(days=3))
    assert aware(ticket.resolution_due or NEVER) == due
    assert ticket.sla_paused_s == 0 and ticket.sla_paused_at is None


async def test_priority_change_restamps_and_handoff_tickets_get_slas(db: Database) -> None:
    t = await make_ticket_rig(db)
    ticket_id = await t.service.create(
        subject="Question", description="", priority="low", actor="api"
    )
    await t.service.set_priority(ticket_id, "urgent", actor="maya")
    (ticket,) = await t.tickets()
    assert aware(ticket.first_response_due or NEVER) == datetime(
        2026, 11, 25, 7, 0, tzinfo=UTC
    )  # 1 h
    # A ticket from the chat has no SLA until the sweep stamps it.
    await t.push("/ticket Login does not work")
    await t.push("I get an error 500 after the password page.")
    assert (await t.tickets())[-1].first_response_due is None
    await t.service.sweep()
    assert (await t.tickets())[-1].first_response_due is not None


class FakeSlackClient:
    def __init__(self) -> None:
        self.posts: list[dict[str, str]] = []

    async def chat_postMessage(self, **kwargs: str) -> dict[str, bool]:
        self.posts.append(kwargs)
        return {"ok": True}


async def test_alerts_reach_the_slack_agents_channel_and_a_broken_notifier_is_contained(
    db: Database,
) -> None:
    t = await make_ticket_rig(db)
    slack = FakeSlackClient()

    class Broken:
        async def sla_alert(self, alert: SlaAlert) -> None:
            raise RuntimeError("notifier down")

    t.service.notifiers += [Broken(), SlackSlaNotifier(slack, "C0AGENTS", zone=KOLKATA)]
    await t.service.create(subject="Card declined", description="", priority="urgent", actor="x")
    t.rig.clock.advance(hours=2)
    assert [a.kind for a in await t.service.sweep()] == ["first_response_breach"]
    assert slack.posts == [
        {
            "channel": "C0AGENTS",
            # 07:00 UTC, in the team's zone with the zone named, as the console shows it
            "text": ":rotating_light: HD-1001 (urgent) first answer overdue, "
            "due 2026-11-25 12:30 IST: Card declined",
        }
    ]


@pytest.mark.parametrize(
    ("paused_since", "breached"),
    [
        (None, True),  # running and overdue
        ("2026-11-20T10:00:00+00:00", False),  # stopped before it was due: not late
        ("2026-11-22T10:00:00+00:00", True),  # stopped after it was due: still breached
    ],
)
def test_the_console_marks_a_paused_ticket_breached_only_if_it_was_late_before(
    paused_since: str | None, breached: bool
) -> None:
    sla = {
        "first_response_due": "2026-11-19T10:00:00+00:00",
        "first_responded_at": "2026-11-19T09:00:00+00:00",
        "resolution_due": "2026-11-21T10:00:00+00:00",
        "resolution_paused_since": paused_since,
    }
    assert _row({"status": "pending", "sla": sla})["breached"] is breached

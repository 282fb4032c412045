"""The numbers on a fixture history whose answers were worked out by hand (see each comment)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.reports.numbers import Event, conversation_facts
from bot.reports.numbers_queries import numbers_for_period
from bot.storage.database import Database
from tests.support.admin_history import END, NOW, START, T0, THRESHOLD, build_history


async def test_numbers_on_a_fixture_history(db: Database) -> None:
    await build_history(db)
    async with db.transaction() as session:
        n = await numbers_for_period(
            session, start=START, end=END, answer_threshold=THRESHOLD, now=NOW
        )
    assert n.conversations == 7  # c1..c6 and c8
    assert (n.deflection.count, n.deflection.total) == (2, 7)  # c1, c6
    assert (n.handoff.count, n.handoff.total) == (2, 7)  # c3, c8
    assert n.handoff_reasons == {"low_confidence": 1, "customer_asked": 1}
    # First responses: c1 2, c2 4, c3 1, c4 3, c5 1, c6 1, c8 1 -> [1,1,1,1,2,3,4]
    assert n.first_response.count == 7
    assert n.first_response.median_s == 1
    assert n.first_response.p90_s == 3  # index round(0.9 * 6) = 5
    assert n.first_response.mean_s == pytest.approx(13 / 7)
    assert (n.human_first_response.count, n.human_first_response.median_s) == (1, 120)
    assert (n.resolution.count, n.resolution.median_s) == (1, 600)
    assert (n.csat.count, n.csat.total, n.csat_average) == (1, 2, 3.5)
    assert (n.sla.first_response.count, n.sla.first_response.total) == (1, 2)
    assert (n.sla.resolution.count, n.sla.resolution.total) == (0, 1)
    assert {k: (v.conversations, v.deflected, v.handoffs) for k, v in n.per_channel.items()} == {
        "webchat": (4, 2, 2),
        "telegram": (2, 0, 0),
        "slack": (1, 0, 0),
    }
    assert {k: (v.conversations, v.deflected, v.handoffs) for k, v in n.per_language.items()} == {
        "en": (5, 2, 2),
        "gu": (1, 0, 0),
        "hi": (1, 0, 0),
    }
    assert {k: (v.answers, v.helpful, v.not_helpful) for k, v in n.per_faq.items()} == {
        "order_status": (3, 1, 0),  # c1, c4, c6 (c3's was under the threshold)
        "return_policy": (1, 0, 1),
        "shipping": (1, 0, 0),
    }
    assert n.daily == [(T0.date(), 7, 2)]
    data = n.as_json()
    assert data["deflection"]["rate"] == pytest.approx(2 / 7)
    assert data["daily"] == [{"day": "2026-11-02", "conversations": 7, "deflected": 2}]


async def test_a_shorter_period_counts_only_its_conversations(db: Database) -> None:
    await build_history(db)
    async with db.transaction() as session:
        n = await numbers_for_period(
            session,
            start=START - timedelta(days=5),
            end=START,
            answer_threshold=THRESHOLD,
            now=NOW,
        )
    assert n.conversations == 1  # only c7
    assert (n.deflection.count, n.per_faq["x"].answers) == (1, 1)


def test_deflection_window_ignores_events_after_24_hours() -> None:
    start = T0
    events = [
        Event(start, "in", "order_status"),
        Event(start + timedelta(seconds=2), "out"),
        # A ticket two days later is a new matter, not a failed deflection.
        Event(start + timedelta(days=2), "ticket"),
    ]
    facts = conversation_facts("webchat", "en", events)
    assert facts is not None and facts.deflected
    # The same ticket within the day: not deflected.
    events[-1] = Event(start + timedelta(hours=5), "ticket")
    facts = conversation_facts("webchat", "en", events)
    assert facts is not None and not facts.deflected
    assert conversation_facts("webchat", "en", [Event(start, "out")]) is None


def test_bad_periods_are_refused_not_crashed() -> None:
    from datetime import date

    from bot.reports.period import MAX_DAYS, BadPeriod, period_from

    today = date(2026, 11, 23)
    start, end = period_from({"days": str(MAX_DAYS)}, today=today)
    assert (end - start).days == MAX_DAYS
    # Found by the API fuzzer: a huge N overflowed timedelta and answered 500.
    for query in (
        {"days": "27874544546"},
        {"days": "0"},
        {"days": str(MAX_DAYS + 1)},
        {"days": "week"},
        {"start": "2026-11-10", "end": "2026-11-01"},
        {"start": "9999-12-31", "end": "9999-12-31"},
        {"start": "0001-01-01"},
    ):
        with pytest.raises(BadPeriod):
            period_from(query, today=today)

"""The desk's rules on their own: business hours, frustration, routing, queue positions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.desk.routing import AgentLoad, Waiting, choose_agent, next_for, position_update
from bot.engine.frustration import is_frustrated, signs
from bot.settings import ConfigError, load_settings
from bot.tickets.business_hours import BusinessHours, BusinessHoursError

KOLKATA = {"mon-fri": "09:00-13:00, 14:00-18:00", "sat": "10:00-14:00"}


def ist(day: int, hour: int, minute: int = 0) -> datetime:
    """A time on 23-29 November 2026 (Mon 23 .. Sun 29) given in IST, as UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC) - (
        datetime(2026, 1, 1, 5, 30) - datetime(2026, 1, 1)
    )


HOURS = BusinessHours.parse(timezone="Asia/Kolkata", weekly=KOLKATA, closed_on=[date(2026, 11, 27)])


# --- business hours ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (ist(23, 8, 59), False),  # Monday, before opening
        (ist(23, 9, 0), True),  # Monday, opening minute
        (ist(23, 13, 30), False),  # lunch break
        (ist(23, 17, 59), True),
        (ist(23, 18, 0), False),  # closing is exclusive
        (ist(27, 11, 0), False),  # Friday, a holiday
        (ist(28, 11, 0), True),  # Saturday morning
        (ist(28, 15, 0), False),  # Saturday afternoon
        (ist(29, 11, 0), False),  # Sunday
    ],
)
def test_business_hours_in_the_desks_time_zone(at: datetime, is_open: bool) -> None:
    assert HOURS.is_open(at) is is_open


def test_next_opening_skips_breaks_holidays_and_weekends() -> None:
    def local(at: datetime | None) -> str:
        assert at is not None
        return at.astimezone(HOURS.zone).strftime("%a %d %H:%M")

    assert local(HOURS.next_opening(ist(23, 13, 30))) == "Mon 23 14:00"
    assert local(HOURS.next_opening(ist(26, 19, 0))) == "Sat 28 10:00"  # Fri 27 is closed
    assert local(HOURS.next_opening(ist(28, 15, 0))) == "Mon 30 09:00"
    assert HOURS.next_opening(ist(23, 10, 0)) == ist(23, 10, 0)  # open now


def test_describe_groups_days() -> None:
    assert HOURS.describe() == "Mon-Fri 09:00-13:00, 14:00-18:00, Sat 10:00-14:00 (Asia/Kolkata)"
    assert BusinessHours.always().always_open and BusinessHours.always().is_open(ist(29, 3))


def test_whole_days_use_24_00() -> None:
    hours = BusinessHours.parse(timezone="UTC", weekly={"mon-sun": "00:00-24:00"})
    assert hours.is_open(datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC))


@pytest.mark.parametrize(
    ("weekly", "timezone", "problem"),
    [
        ({"mon": "9-18"}, "UTC", "not a time range"),
        ({"mon": "18:00-09:00"}, "UTC", "ends before it starts"),
        ({"mon": "09:00-12:00, 11:00-13:00"}, "UTC", "overlap"),
        ({"funday": "09:00-18:00"}, "UTC", "not a weekday"),
        ({"fri-mon": "09:00-18:00"}, "UTC", "run forward"),
        ({"mon-fri": "09:00-18:00", "wed": "10:00-11:00"}, "UTC", "wed is listed twice"),
        ({}, "Mars/Olympus", "unknown time zone"),
    ],
)
def test_bad_schedules_are_explained(weekly: dict[str, str], timezone: str, problem: str) -> None:
    with pytest.raises(BusinessHoursError, match=problem):
        BusinessHours.parse(timezone=timezone, weekly=weekly)


def test_a_bad_schedule_in_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text(
        "handoff:\n  business_hours:\n    timezone: UTC\n    weekly: {mon: '25:00-26:00'}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"handoff\.business_hours"):
        load_settings(config)


def test_the_shipped_config_names_the_zone_and_is_open_for_the_demo() -> None:
    settings, _ = load_settings(Path(__file__).resolve().parent.parent / "config.yml")
    hours = settings.handoff.business_hours.schedule()
    # Open around the clock so a demo chat reaches the queue at any hour (README, Agents).
    assert hours.zone.key == "Asia/Kolkata" and hours.always_open


# --- frustration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "this is useless",
        "Worst service ever",
        "I'm so frustrated with you",
        "you're not helping at all",
        "WHY DOES NOTHING WORK HERE",
        "where is my refund???",
        "seriously 😡",
        "yeh bakwas hai",
        "यह बकवास है",  # Hindi
        "આ નકામું છે",  # Gujarati
        "ఇది చెత్త సేవ",  # Telugu
        "ეს საშინელი მომსახურებაა",  # Georgian
    ],
)
def test_negative_messages_in_every_language(text: str) -> None:
    assert signs(text).negative, text


@pytest.mark.parametrize(
    "text",
    [
        "where is my order?",
        "whatever works for you, thanks",  # 'hate' inside a word does not count
        "Can you help me?",
        "I love the new phone!",
        "OK",
        "NASA",  # short capitals are not shouting
        "મારો ઓર્ડર ક્યાં છે?",
    ],
)
def test_ordinary_messages_are_not_negative(text: str) -> None:
    assert not signs(text).negative, signs(text).reasons


def test_frustration_needs_repetition_within_the_window() -> None:
    angry = signs("this is useless")
    calm = signs("where is my order")
    assert not is_frustrated(angry, [])
    assert not is_frustrated(angry, [False, False])
    assert is_frustrated(angry, [True])
    assert is_frustrated(angry, [False, True])  # two of the last three
    assert not is_frustrated(angry, [False, False, True])  # outside the window
    assert not is_frustrated(calm, [True, True])  # the latest must be negative


# --- routing ----------------------------------------------------------------------------------


def agent(
    id: int, languages: tuple[str, ...], *, active: int = 0, max_chats: int = 3, online: bool = True
) -> AgentLoad:
    return AgentLoad(id, f"a{id}", languages, max_chats, active, online)


def test_choose_agent_prefers_the_language_then_the_least_loaded() -> None:
    team = [
        agent(1, ("en",)),
        agent(2, ("gu", "en"), active=2),
        agent(3, ("gu",), active=1),
        agent(4, ("gu",), online=False),
        agent(5, ("gu",), active=3),  # full
    ]
    chosen = choose_agent("gu", team)
    assert chosen is not None and chosen.id == 3
    chosen = choose_agent("te", team)  # nobody speaks it: anyone free, least loaded
    assert chosen is not None and chosen.id == 1
    assert choose_agent("en", [agent(4, ("en",), online=False)]) is None


def test_next_for_is_oldest_first_in_the_agents_languages() -> None:
    t = datetime(2026, 11, 25, tzinfo=UTC)
    queue = [Waiting(1, "hi", t), Waiting(2, "gu", t), Waiting(3, "en", t), Waiting(4, "gu", t)]
    gujarati, english = agent(1, ("gu",)), agent(2, ("en", "hi"))
    team = [gujarati, english]
    assert next_for(gujarati, queue, team) == queue[1]
    assert next_for(english, queue, team) == queue[0]
    # Nothing in my languages: take the oldest that no other free agent speaks.
    telugu = agent(3, ("te",))
    assert next_for(telugu, queue, [*team, telugu]) == queue[0]  # all covered: the oldest
    only_gu = [Waiting(2, "gu", t), Waiting(5, "ka", t)]
    assert next_for(telugu, only_gu, [gujarati, telugu]) == only_gu[1]
    assert next_for(telugu, [Waiting(2, "gu", t)], [gujarati, telugu]) == Waiting(2, "gu", t)
    assert next_for(telugu, [], team) is None


@pytest.mark.parametrize(
    ("position", "told", "step", "tell"),
    [
        (3, None, 3, True),  # never told yet
        (1, 2, 3, True),  # next in line
        (4, 5, 3, False),  # a small move
        (2, 5, 3, True),  # moved three places
        (6, 5, 3, False),  # moved back (someone was put ahead): do not say so
        (5, 5, 3, False),
    ],
)
def test_position_updates_only_when_meaningful(
    position: int, told: int | None, step: int, tell: bool
) -> None:
    assert position_update(position, told, step=step) is tell

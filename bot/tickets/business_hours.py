"""Business hours: when the agent desk is staffed, in the desk's own time zone.

Configured as a weekly schedule plus closed days (holidays)::

    business_hours:
      timezone: Asia/Kolkata
      weekly:
        mon-fri: "09:00-18:00"
        sat: "10:00-14:00"
      closed_on: [2026-12-25]

A day not listed is closed; ``"09:00-13:00, 14:00-18:00"`` gives a lunch break;
``24:00`` means midnight at the end of the day. An empty ``weekly`` means always open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
END_OF_DAY = time(23, 59, 59, 999999)
# How far ahead next_opening looks: two weeks covers any weekly schedule plus holidays.
LOOKAHEAD_DAYS = 14

Span = tuple[time, time]


class BusinessHoursError(ValueError):
    """The schedule in the configuration cannot be understood; the message says where."""


@dataclass(frozen=True, slots=True)
class BusinessHours:
    zone: ZoneInfo
    weekly: Mapping[int, tuple[Span, ...]]
    closed_on: frozenset[date] = frozenset()

    @classmethod
    def parse(
        cls, *, timezone: str, weekly: Mapping[str, str], closed_on: Iterable[date] = ()
    ) -> BusinessHours:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise BusinessHoursError(f"unknown time zone {timezone!r}") from exc
        days: dict[int, tuple[Span, ...]] = {}
        for key, spans in weekly.items():
            for day in _days(key):
                if day in days:
                    raise BusinessHoursError(f"{WEEKDAYS[day]} is listed twice in {key!r}")
                days[day] = _spans(spans, key)
        return cls(zone=zone, weekly=days, closed_on=frozenset(closed_on))

    @classmethod
    def always(cls) -> BusinessHours:
        return cls(zone=ZoneInfo("UTC"), weekly={})

    @property
    def always_open(self) -> bool:
        return not self.weekly

    def is_open(self, at: datetime) -> bool:
        if self.always_open:
            return True
        local = at.astimezone(self.zone)
        if local.date() in self.closed_on:
            return False
        now = local.time()
        return any(start <= now < end for start, end in self.weekly.get(local.weekday(), ()))

    def next_opening(self, at: datetime) -> datetime | None:
        """When the desk opens next (``at`` itself if open now); None if never in two weeks."""
        if self.is_open(at):
            return at
        local = at.astimezone(self.zone)
        for offset in range(LOOKAHEAD_DAYS + 1):
            day = local.date() + timedelta(days=offset)
            if day in self.closed_on:
                continue
            for start, _ in self.weekly.get(day.weekday(), ()):
                opening = datetime.combine(day, start, tzinfo=self.zone)
                if opening > local:
                    return opening
        return None

    def describe(self) -> str:
        """``Mon-Fri 09:00-18:00, Sat 10:00-14:00 (Asia/Kolkata)``, for people."""
        if self.always_open:
            return "always open"
        groups: list[tuple[int, int, tuple[Span, ...]]] = []
        for day in range(7):
            spans = self.weekly.get(day)
            if spans is None:
                continue
            if groups and groups[-1][1] == day - 1 and groups[-1][2] == spans:
                groups[-1] = (groups[-1][0], day, spans)
            else:
                groups.append((day, day, spans))
        parts = []
        for first, last, spans in groups:
            days = WEEKDAYS[first].title()
            if last != first:
                days += "-" + WEEKDAYS[last].title()
            parts.append(f"{days} {', '.join(_show(s) for s in spans)}")
        return f"{', '.join(parts)} ({self.zone.key})"


def _days(key: str) -> list[int]:
    names = key.strip().lower().split("-")
    if any(name not in WEEKDAYS for name in names) or len(names) > 2:
        raise BusinessHoursError(
            f"{key!r} is not a weekday or a range like 'mon-fri' (days: {', '.join(WEEKDAYS)})"
        )
    first, last = WEEKDAYS.index(names[0]), WEEKDAYS.index(names[-1])
    if last < first:
        raise BusinessHoursError(f"{key!r}: a range must run forward through the week")
    return list(range(first, last + 1))


def _spans(text: str, key: str) -> tuple[Span, ...]:
    spans: list[Span] = []
    for part in str(text).split(","):
        try:
            start_text, end_text = (piece.strip() for piece in part.split("-"))
            start, end = _clock(start_text), _clock(end_text)
        except ValueError as exc:
            raise BusinessHoursError(
                f"{key}: {part.strip()!r} is not a time range like '09:00-18:00'"
            ) from exc
        if end <= start:
            raise BusinessHoursError(f"{key}: {part.strip()!r} ends before it starts")
        spans.append((start, end))
    spans.sort()
    for (_, end), (start, _) in pairwise(spans):
        if start < end:
            raise BusinessHoursError(f"{key}: time ranges overlap in {text!r}")
    return tuple(spans)


def _clock(text: str) -> time:
    if text == "24:00":
        return END_OF_DAY
    hours, minutes = text.split(":")
    if len(minutes) != 2:
        raise ValueError(text)
    return time(int(hours), int(minutes))


def _show(span: Span) -> str:
    start, end = span
    end_text = "24:00" if end == END_OF_DAY else end.strftime("%H:%M")
    return f"{start.strftime('%H:%M')}-{end_text}"

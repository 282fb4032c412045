"""Service levels: first-response and resolution targets per priority, in business hours.

A target of 4 hours on a desk open Mon-Fri 09:00-18:00 (Asia/Kolkata) set on Friday at
17:00 is due Monday at 12:00: only open time counts. Arithmetic is done in UTC instants
(two local times in one zone subtract naively across a DST change); the schedule's own
zone decides which instants are open.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from bot.tickets.business_hours import END_OF_DAY, BusinessHours

PRIORITIES = ("low", "normal", "high", "urgent")
# A schedule that never opens would loop forever; a year of days is plenty.
HORIZON_DAYS = 366


class SlaError(ValueError):
    """The target can never be met: the schedule has no open time within a year."""


@dataclass(frozen=True, slots=True)
class Target:
    first_response: timedelta
    resolution: timedelta


@dataclass(frozen=True, slots=True)
class SlaDue:
    """When a ticket's first answer and resolution are due, and when to warn before each."""

    first_response_warn_at: datetime
    first_response_due: datetime
    resolution_warn_at: datetime
    resolution_due: datetime


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    hours: BusinessHours
    targets: Mapping[str, Target]
    warn_fraction: float = 0.8

    def target(self, priority: str) -> Target:
        return self.targets.get(priority) or self.targets["normal"]

    def due(
        self, priority: str, created_at: datetime, *, paused: timedelta = timedelta(0)
    ) -> SlaDue:
        """The four SLA times of a ticket of this priority opened at ``created_at``.

        ``paused`` is open time the resolution clock stood still (the ticket waited on
        the customer) before its due time: resolution is due that much later.
        """
        target = self.target(priority)
        return SlaDue(
            first_response_warn_at=add_business_time(
                self.hours, created_at, target.first_response * self.warn_fraction
            ),
            first_response_due=add_business_time(self.hours, created_at, target.first_response),
            resolution_warn_at=add_business_time(
                self.hours, created_at, target.resolution * self.warn_fraction + paused
            ),
            resolution_due=add_business_time(self.hours, created_at, target.resolution + paused),
        )


def add_business_time(hours: BusinessHours, start: datetime, amount: timedelta) -> datetime:
    """The instant (UTC) after ``amount`` of open time has passed since ``start``."""
    start = start.astimezone(UTC)
    if hours.always_open:
        return start + amount
    left = amount
    for opens, closes in _open_spans(hours, start):
        begin = max(opens, start)
        if begin >= closes:
            continue
        if begin + left <= closes:
            return begin + left
        left -= closes - begin
    raise SlaError(f"no open time within {HORIZON_DAYS} days ({hours.describe()})")


def business_time_between(hours: BusinessHours, start: datetime, end: datetime) -> timedelta:
    """How much open time lies between two instants (zero if ``end`` is not after ``start``)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return timedelta(0)
    if hours.always_open:
        return end - start
    total = timedelta(0)
    for opens, closes in _open_spans(hours, start):
        if opens >= end:
            break
        begin, finish = max(opens, start), min(closes, end)
        if finish > begin:
            total += finish - begin
    return total


def _open_spans(hours: BusinessHours, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Open spans as UTC instants, in order, from the local day of ``start`` on."""
    first_day = start.astimezone(hours.zone).date()
    for offset in range(HORIZON_DAYS):
        day = first_day + timedelta(days=offset)
        if day in hours.closed_on:
            continue
        for span_start, span_end in hours.weekly.get(day.weekday(), ()):
            opens = datetime.combine(day, span_start, tzinfo=hours.zone)
            if span_end == END_OF_DAY:  # "24:00": the next midnight, not 23:59:59.999999
                closes = datetime.combine(day + timedelta(days=1), time(0), tzinfo=hours.zone)
            else:
                closes = datetime.combine(day, span_end, tzinfo=hours.zone)
            yield opens.astimezone(UTC), closes.astimezone(UTC)


def parse_targets(raw: Mapping[str, tuple[float, float]]) -> dict[str, Target]:
    """``{priority: (first_response_hours, resolution_hours)}`` to targets."""
    return {
        name: Target(timedelta(hours=first), timedelta(hours=resolution))
        for name, (first, resolution) in raw.items()
    }

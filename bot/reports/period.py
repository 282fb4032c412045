"""The period a report covers, from a query string: the console's dashboard and the API."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

MAX_DAYS = 366


class BadPeriod(ValueError):
    """A period that cannot be read or is out of bounds; the message says why."""


def period_from(query: Mapping[str, str], *, today: date) -> tuple[datetime, datetime]:
    """``?start=YYYY-MM-DD&end=YYYY-MM-DD`` (end inclusive) or ``?days=N`` (default 7)."""
    try:
        if "start" in query or "end" in query:
            start = date.fromisoformat(query.get("start", ""))
            end = date.fromisoformat(query.get("end") or today.isoformat())
        else:
            days = int(query.get("days", "7"))
            # Bounded before any date arithmetic: a huge N would overflow timedelta (a 500).
            if not 1 <= days <= MAX_DAYS:
                raise BadPeriod(f"days must be 1 to {MAX_DAYS}")
            end, start = today, today - timedelta(days=days - 1)
    except (ValueError, OverflowError) as exc:
        raise BadPeriod(f"bad period: {exc}") from exc
    if end < start:
        raise BadPeriod("end is before start")
    if (end - start).days >= MAX_DAYS:
        raise BadPeriod(f"a period is at most {MAX_DAYS} days")
    if end >= date.max:  # the period ends at the next midnight, which must exist
        raise BadPeriod("end is out of range")
    as_time = datetime.min.time()
    return (
        datetime.combine(start, as_time, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), as_time, tzinfo=UTC),
    )

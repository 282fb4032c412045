"""What a ticket list asks for in its query string: filters and pagination, checked.

The REST API and the console's ticket list read the same parameters (``status``,
``priority``, ``assignee_id``, ``unassigned``, ``q``, ``page``, ``per_page``); a
malformed one is a :class:`BadQuery` whose message says what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.storage.models import TicketStatus
from bot.storage.tickets import TicketFilter
from bot.tickets.sla import PRIORITIES

PER_PAGE = 25
MAX_PER_PAGE = 100
MAX_PAGE = 100_000
MAX_SEARCH = 200
KNOWN = frozenset({"status", "priority", "assignee_id", "unassigned", "q", "page", "per_page"})


class BadQuery(ValueError):
    """A query parameter out of range or unknown; the message is shown as-is."""


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise BadQuery(f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def ticket_query(params: Mapping[str, str]) -> tuple[TicketFilter, int, int]:
    """The filter, page and page size the parameters ask for."""
    unknown = sorted(set(params) - KNOWN)
    if unknown:
        raise BadQuery(f"Unknown query parameters: {', '.join(unknown)}.")
    status = params.get("status")
    if status is not None and status not in {s.value for s in TicketStatus}:
        raise BadQuery(f"status must be one of {[s.value for s in TicketStatus]}.")
    priority = params.get("priority")
    if priority is not None and priority not in PRIORITIES:
        raise BadQuery(f"priority must be one of {list(PRIORITIES)}.")
    unassigned = params.get("unassigned", "false")
    if unassigned not in {"true", "false"}:
        raise BadQuery("unassigned must be true or false.")
    search = params.get("q")
    if search is not None and len(search) > MAX_SEARCH:
        raise BadQuery(f"q can be at most {MAX_SEARCH} characters.")
    assignee = params.get("assignee_id")
    where = TicketFilter(
        status=TicketStatus(status) if status else None,
        priority=priority,
        assignee_id=_int(params, "assignee_id", 0, 1, 2**31 - 1) if assignee else None,
        unassigned=unassigned == "true",
        search=search.replace("\x00", "") if search else None,
    )
    page = _int(params, "page", 1, 1, MAX_PAGE)
    per_page = _int(params, "per_page", PER_PAGE, 1, MAX_PER_PAGE)
    return where, page, per_page

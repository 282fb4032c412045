"""Query-string parsing for ticket lists: filters and pagination, with clear 4xx errors."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from bot.storage.models import TicketStatus
from bot.storage.tickets import TicketFilter
from bot.tickets.sla import PRIORITIES

PER_PAGE = 25
MAX_PER_PAGE = 100
MAX_PAGE = 100_000
MAX_SEARCH = 200
KNOWN = frozenset({"status", "priority", "assignee_id", "unassigned", "q", "page", "per_page"})


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def _int(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(422, "invalid", f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def list_query(request: Request) -> tuple[TicketFilter, int, int]:
    """The filter, page and page size a request asks for; ApiError(422) when malformed."""
    params = dict(request.query_params)
    unknown = sorted(set(params) - KNOWN)
    if unknown:
        raise ApiError(422, "invalid", f"Unknown query parameters: {', '.join(unknown)}.")
    status = params.get("status")
    if status is not None and status not in {s.value for s in TicketStatus}:
        raise ApiError(422, "invalid", f"status must be one of {[s.value for s in TicketStatus]}.")
    priority = params.get("priority")
    if priority is not None and priority not in PRIORITIES:
        raise ApiError(422, "invalid", f"priority must be one of {list(PRIORITIES)}.")
    unassigned = params.get("unassigned", "false")
    if unassigned not in {"true", "false"}:
        raise ApiError(422, "invalid", "unassigned must be true or false.")
    search = params.get("q")
    if search is not None and len(search) > MAX_SEARCH:
        raise ApiError(422, "invalid", f"q can be at most {MAX_SEARCH} characters.")
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

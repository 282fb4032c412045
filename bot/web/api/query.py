"""The API's errors, and its ticket-list query (:mod:`bot.tickets.query`) as 422s."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from bot.storage.tickets import TicketFilter
from bot.tickets.query import BadQuery, ticket_query


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def list_query(request: Request) -> tuple[TicketFilter, int, int]:
    """The filter, page and page size a request asks for; ApiError(422) when malformed."""
    try:
        return ticket_query(dict(request.query_params))
    except BadQuery as exc:
        raise ApiError(422, "invalid", str(exc)) from exc

"""The REST API at ``/api/v1``: tickets (list, get, create, update, comment, CSV export).

Token authentication (``Authorization: Bearer <token>``, tokens from ``helpdesk token
add``, stored hashed); pagination (``page``, ``per_page``); every error is JSON
``{"error": {"code", "message", "details"}}`` with a 4xx status. The OpenAPI document
is served at ``/api/v1/openapi.json`` (no token needed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bot.desk.policy import DeskError
from bot.reports.numbers_queries import numbers_for_period
from bot.reports.period import BadPeriod, period_from
from bot.reports.survey_queries import survey_numbers_for_period
from bot.storage.api_tokens import ApiTokenRepository
from bot.storage.models import ApiToken, Ticket, TicketStatus, utcnow
from bot.storage.tickets import TicketStore
from bot.tickets.present import Names, event_json, export_rows, ticket_json, tickets_csv
from bot.tickets.service import TicketService
from bot.web.api.openapi import openapi_document
from bot.web.api.query import ApiError, list_query
from bot.web.api.schemas import CommentCreate, TicketCreate, TicketUpdate

PREFIX = "/api/v1"
# Anything else is answered 404 without a query (a NUL byte would upset PostgreSQL).
REFERENCE = re.compile(r"^HD-[0-9]{1,9}$", re.IGNORECASE)
MAX_BODY = 64 * 1024

M = TypeVar("M", bound=BaseModel)
Endpoint = Callable[[Request, ApiToken], Awaitable[Response]]


def error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


# The last N days, ending today: a bound the OpenAPI document can state exactly (the
# console's dashboard also takes start/end dates).
NUMBERS_PARAMS = frozenset({"days"})


class TicketApi:
    """``/api/v1``: tickets, and the support numbers (``answer_threshold`` decides what
    counts as an FAQ answer in them, as on the console's dashboard)."""

    def __init__(self, service: TicketService, *, answer_threshold: float = 0.55) -> None:
        self.service = service
        self.db = service.db
        self.answer_threshold = answer_threshold

    def mount(self) -> Mount:
        return Mount(PREFIX, routes=self.routes())

    def install(self, app: Starlette) -> None:
        """Mount the API on the web app, and answer its unroutable paths (404/405) in JSON
        like every other API error (a reference with a newline never reaches a route)."""
        app.router.routes.append(self.mount())
        app.add_exception_handler(HTTPException, _http_error)

    def routes(self) -> list[BaseRoute]:
        guarded = self._guarded
        return [
            Route("/openapi.json", self.openapi),
            Route("/tickets", guarded(self.list), methods=["GET"]),
            Route("/tickets", guarded(self.create), methods=["POST"]),
            Route("/tickets/export.csv", guarded(self.export), methods=["GET"]),
            Route("/tickets/{reference}", guarded(self.get), methods=["GET"]),
            Route("/tickets/{reference}", guarded(self.update), methods=["PATCH"]),
            Route("/tickets/{reference}/comments", guarded(self.comment), methods=["POST"]),
            Route("/numbers", guarded(self.numbers), methods=["GET"]),
        ]

    async def numbers(self, request: Request, _: ApiToken) -> Response:
        """The dashboard's numbers for the last ``days`` days, for reporting tools."""
        query = dict(request.query_params)
        unknown = sorted(set(query) - NUMBERS_PARAMS)
        if unknown:
            raise ApiError(422, "invalid_query", f"unknown query parameters: {unknown}")
        try:
            start, end = period_from(query, today=utcnow().date())
        except BadPeriod as exc:
            raise ApiError(422, "invalid_query", str(exc)) from exc
        async with self.db.transaction() as session:
            numbers = await numbers_for_period(
                session, start=start, end=end, answer_threshold=self.answer_threshold
            )
            surveys = await survey_numbers_for_period(session, start=start, end=end)
        return JSONResponse(numbers.as_json() | {"surveys": surveys.as_json()})

    async def openapi(self, _: Request) -> Response:
        return JSONResponse(openapi_document())

    def _guarded(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            token = await self._token(request)
            if token is None:
                return error(401, "unauthorized", "A valid API token is required (Bearer).")
            try:
                return await endpoint(request, token)
            except ApiError as exc:
                return error(exc.status, exc.code, exc.message, exc.details)
            except DeskError as exc:
                code = {404: "not_found", 409: "conflict", 403: "forbidden"}.get(
                    exc.status, "bad_request"
                )
                return error(exc.status, code, str(exc))

        return run

    async def _token(self, request: Request) -> ApiToken | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 200:
            return None
        async with self.db.transaction() as session:
            return await ApiTokenRepository(session).verify(token)

    # --- endpoints ----------------------------------------------------------------------------

    async def list(self, request: Request, _: ApiToken) -> Response:
        where, page, per_page = list_query(request)
        async with self.db.transaction() as session:
            rows, total = await TicketStore(session).page(
                where, limit=per_page, offset=(page - 1) * per_page
            )
            names = await Names.load(session, rows)
            items = [ticket_json(t, names) for t in rows]
        return JSONResponse({"items": items, "page": page, "per_page": per_page, "total": total})

    async def export(self, request: Request, _: ApiToken) -> Response:
        where, _page, _per_page = list_query(request)
        return _csv(await export_rows(self.db, where))

    async def get(self, request: Request, _: ApiToken) -> Response:
        return JSONResponse(await self._detail(request.path_params["reference"]))

    async def create(self, request: Request, token: ApiToken) -> Response:
        body = await _body(request, TicketCreate)
        ticket_id = await self.service.create(
            subject=body.subject,
            description=body.description,
            priority=body.priority,
            actor=_actor(token),
            customer_name=body.customer_name,
            contact=body.contact,
            language=body.language,
        )
        async with self.db.transaction() as session:
            ticket = await TicketStore(session).get(ticket_id)
            reference = ticket.reference if ticket else ""
        detail = await self._detail(reference or "")
        return JSONResponse(detail, status_code=201, headers={"Location": _location(reference)})

    async def update(self, request: Request, token: ApiToken) -> Response:
        ticket = await self._ticket(request.path_params["reference"])
        body = await _body(request, TicketUpdate)
        if body.unassign and body.assignee_id is not None:
            raise ApiError(422, "invalid", "Give assignee_id or unassign, not both.")
        await self.service.update(
            ticket.id,
            actor=_actor(token),
            priority=body.priority,
            assignee_id=body.assignee_id,
            unassign=body.unassign,
            status=TicketStatus(body.status) if body.status is not None else None,
        )
        return JSONResponse(await self._detail(ticket.reference or ""))

    async def comment(self, request: Request, token: ApiToken) -> Response:
        ticket = await self._ticket(request.path_params["reference"])
        body = await _body(request, CommentCreate)
        await self.service.comment(ticket.id, body.text, actor=_actor(token), public=body.public)
        return JSONResponse(await self._detail(ticket.reference or ""), status_code=201)

    # --- helpers ------------------------------------------------------------------------------

    async def _ticket(self, reference: str) -> Ticket:
        ticket = None
        if REFERENCE.match(reference):
            async with self.db.transaction() as session:
                ticket = await TicketStore(session).by_reference(reference)
        if ticket is None:
            raise ApiError(404, "not_found", f"No ticket {reference[:40]!r}.")
        return ticket

    async def _detail(self, reference: str) -> dict[str, Any]:
        async with self.db.transaction() as session:
            store = TicketStore(session)
            ticket = await store.by_reference(reference) if REFERENCE.match(reference) else None
            if ticket is None:
                raise ApiError(404, "not_found", f"No ticket {reference[:40]!r}.")
            names = await Names.load(session, [ticket])
            events = [event_json(e) for e in await store.events(ticket.id)]
            return {**ticket_json(ticket, names), "events": events}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if not request.url.path.startswith(PREFIX + "/"):
        # Everything else keeps Starlette's plain answer.
        if exc.status_code in {204, 304}:
            return Response(status_code=exc.status_code, headers=exc.headers)
        return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
    response = error(exc.status_code, code, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


def _csv(rows: list[dict[str, Any]]) -> Response:
    return Response(
        tickets_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="tickets.csv"'},
    )


def _actor(token: ApiToken) -> str:
    return f"api:{token.name}"


def _location(reference: str | None) -> str:
    return f"{PREFIX}/tickets/{reference or ''}"


async def _body(request: Request, model: type[M]) -> M:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise ApiError(413, "too_large", f"The body can be at most {MAX_BODY} bytes.")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise ApiError(400, "invalid_json", "The body is nested too deeply.") from exc
    problem = _unstorable(data)
    if problem:
        raise ApiError(422, "invalid", problem)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = exc.errors(include_url=False, include_context=False, include_input=False)
        raise ApiError(422, "invalid", "The body does not match the schema.", details) from exc


MAX_DEPTH = 16
_SURROGATE = re.compile("[\ud800-\udfff]")


def _unstorable(data: object) -> str | None:
    """Why a parsed body cannot be taken (nested too deeply, text no database stores), or
    None. Walked without recursion: the body may be as deep as the JSON parser allowed."""
    pending: list[tuple[object, int]] = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            return f"The body is nested deeper than {MAX_DEPTH} levels."
        if isinstance(value, str):
            if "\x00" in value:
                return "Text may not contain NUL characters."
            if _SURROGATE.search(value):
                return "Text may not contain lone surrogates (invalid UTF-16)."
        elif isinstance(value, dict):
            pending += [(k, depth + 1) for k in value] + [(v, depth + 1) for v in value.values()]
        elif isinstance(value, list):
            pending += [(item, depth + 1) for item in value]
    return None

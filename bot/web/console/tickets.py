"""Console pages for tickets: a list with filters and search, a detail page with the
timeline, and the agent actions (assign, status, priority, public reply, internal note),
plus CSV export of the filtered list. Everything acts through
:class:`bot.tickets.service.TicketService`, as the REST API does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.desk.policy import DeskError
from bot.storage.models import TicketStatus, aware
from bot.storage.repositories import AgentRepository
from bot.storage.tickets import TicketStore
from bot.tickets.present import Names, event_json, export_rows, ticket_json, tickets_csv
from bot.tickets.query import BadQuery, ticket_query
from bot.tickets.rules import paused_in_time
from bot.tickets.service import TicketService
from bot.tickets.sla import PRIORITIES
from bot.web.console.auth import Login, Sessions, csrf_ok, same_origin
from bot.web.console.pages import FormTooLarge, form, render, secure

BASE = "/console/tickets"
STATUSES = [s.value for s in TicketStatus]
TicketAction = Callable[[Login, int, dict[str, str]], Awaitable[None]]


class TicketPages:
    def __init__(self, sessions: Sessions, service: TicketService) -> None:
        self.sessions = sessions
        self.service = service
        self.db = service.db

    def routes(self) -> list[BaseRoute]:
        actions: dict[str, TicketAction] = {
            "assign": self._assign,
            "status": self._status,
            "priority": self._priority,
            "reply": self._reply,
            "note": self._note,
        }

        def action_route(name: str, act: TicketAction) -> Route:
            async def endpoint(request: Request) -> Response:
                return await self._act(request, act)

            return Route(f"/tickets/{{ticket_id:int}}/{name}", endpoint, methods=["POST"])

        return [
            Route("/tickets", self.list_page),
            Route("/tickets/export.csv", self.export),
            Route("/tickets/{ticket_id:int}", self.detail_page),
            *(action_route(name, act) for name, act in actions.items()),
        ]

    # --- pages --------------------------------------------------------------------------------

    async def list_page(self, request: Request) -> Response:
        login = await self.sessions.current(request)
        if login is None:
            return RedirectResponse("/console/login", status_code=303)
        try:
            where, page, per_page = ticket_query(dict(request.query_params))
        except BadQuery as exc:
            return render("tickets.html", status_code=400, login=login, error=str(exc),
                          items=[], query={}, page=1, pages=1, total=0, **_choices())  # fmt: skip
        async with self.db.transaction() as session:
            rows, total = await TicketStore(session).page(
                where, limit=per_page, offset=(page - 1) * per_page
            )
            names = await Names.load(session, rows)
            items = [_row(ticket_json(t, names)) for t in rows]
            agents = [(a.id, a.name) for a in await AgentRepository(session).list()]
        query = {k: v for k, v in request.query_params.items() if k != "page" and v}
        return render(
            "tickets.html",
            login=login,
            items=items,
            query=query,
            page=page,
            pages=max(1, -(-total // per_page)),
            total=total,
            export=f"{BASE}/export.csv?{urlencode(query)}",
            prev=f"{BASE}?{urlencode({**query, 'page': page - 1})}",
            next=f"{BASE}?{urlencode({**query, 'page': page + 1})}",
            agents=agents,
            error=None,
            **_choices(),
        )

    async def export(self, request: Request) -> Response:
        if await self.sessions.current(request) is None:
            return secure(Response("login required", status_code=401))
        try:
            where, _, _ = ticket_query(dict(request.query_params))
        except BadQuery as exc:
            return secure(Response(str(exc), status_code=400))
        download = {"Content-Disposition": 'attachment; filename="tickets.csv"'}
        rows = await export_rows(self.db, where)
        csv = Response(tickets_csv(rows), media_type="text/csv; charset=utf-8", headers=download)
        return secure(csv)

    async def detail_page(self, request: Request) -> Response:
        login = await self.sessions.current(request)
        if login is None:
            return RedirectResponse("/console/login", status_code=303)
        ticket_id = int(request.path_params["ticket_id"])
        async with self.db.transaction() as session:
            store = TicketStore(session)
            ticket = await store.get(ticket_id)
            if ticket is None:
                return render("missing.html", status_code=404, login=login)
            names = await Names.load(session, [ticket])
            data = _row(ticket_json(ticket, names))
            events = [event_json(e) for e in await store.events(ticket.id)]
            agents = [(a.id, a.name) for a in await AgentRepository(session).list()]
        flash = self.sessions.read_flash(request)
        response = render(
            "ticket.html",
            login=login,
            t=data,
            events=events,
            agents=agents,
            flash=flash,
            back=f"{BASE}/{ticket_id}",
            **_choices(),
        )
        if flash:
            self.sessions.clear_flash(response)
        return response

    # --- actions ------------------------------------------------------------------------------

    async def _act(self, request: Request, act: TicketAction) -> Response:
        try:
            fields = await form(request)
        except FormTooLarge:
            return secure(Response("form too large", status_code=413))
        login = await self.sessions.current(request)
        if login is None:
            return secure(Response("login required", status_code=401))
        if not same_origin(request) or not csrf_ok(login, fields.get("csrf")):
            return secure(Response("invalid or missing CSRF token", status_code=403))
        ticket_id = int(request.path_params["ticket_id"])
        target = f"{BASE}/{ticket_id}"
        response = RedirectResponse(target, status_code=303)
        try:
            await act(login, ticket_id, fields)
        except DeskError as exc:
            response.status_code = 303
            self.sessions.flash(response, request, str(exc))
        return secure(response)

    async def _assign(self, login: Login, ticket_id: int, fields: dict[str, str]) -> None:
        choice = fields.get("assignee", "")
        if choice not in ("", "me") and not choice.isdigit():
            raise DeskError("Choose an agent.")
        assignee = login.agent_id if choice == "me" else int(choice) if choice else None
        await self.service.assign(ticket_id, assignee, actor=login.name)

    async def _status(self, login: Login, ticket_id: int, fields: dict[str, str]) -> None:
        status = fields.get("status", "")
        if status not in STATUSES:
            raise DeskError("Choose a status.")
        await self.service.set_status(ticket_id, TicketStatus(status), actor=login.name)

    async def _priority(self, login: Login, ticket_id: int, fields: dict[str, str]) -> None:
        await self.service.set_priority(ticket_id, fields.get("priority", ""), actor=login.name)

    async def _reply(self, login: Login, ticket_id: int, fields: dict[str, str]) -> None:
        await self.service.public_reply(
            ticket_id, fields.get("text", ""), actor=login.name, agent_id=login.agent_id
        )

    async def _note(self, login: Login, ticket_id: int, fields: dict[str, str]) -> None:
        await self.service.note(ticket_id, fields.get("text", ""), actor=login.name)


def _choices() -> dict[str, Any]:
    return {"statuses": STATUSES, "priorities": list(PRIORITIES)}


def _row(data: dict[str, Any]) -> dict[str, Any]:
    """Adds what the pages show: local-looking times and whether an SLA is breached."""
    now = datetime.now().astimezone()
    sla = data["sla"]
    due = sla["first_response_due"] if sla["first_responded_at"] is None else None
    resolution, paused = sla["resolution_due"], sla.get("resolution_paused_since")
    if (
        paused
        and resolution
        and paused_in_time(datetime.fromisoformat(paused), datetime.fromisoformat(resolution))
    ):
        resolution = None  # waiting on the customer is not late
    late = [
        when
        for when in (due, resolution)
        if when and data["status"] in ("new", "open", "pending")
        if aware(datetime.fromisoformat(when)) < now
    ]
    return {**data, "breached": bool(late), "next_due": due or sla["resolution_due"]}

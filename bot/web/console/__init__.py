"""The web agent console, mounted at ``/console``: login, queue, conversations, live updates.

Server-rendered pages (Jinja2, autoescaped) with a little JavaScript for live updates
over a WebSocket. Every action goes through :class:`bot.desk.service.Desk`, the same service a
Slack desk uses, so both stay consistent.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from bot.desk.policy import DeskError
from bot.desk.service import Desk
from bot.settings import ConsoleSettings
from bot.storage.models import AgentPresence
from bot.web.console.auth import (
    Login,
    LoginFailed,
    Sessions,
    Throttled,
    csrf_ok,
    same_origin,
)
from bot.web.console.files import file_response
from bot.web.console.live import live_socket
from bot.web.console.pages import STATIC, FormTooLarge, form, render, secure, use_team_zone
from bot.web.console.views import ConsoleViews

log = logging.getLogger(__name__)

PREFIX = "/console"
Action = Callable[[Login, int, dict[str, str]], Awaitable[None]]


class Console:
    def __init__(self, *, desk: Desk, sessions: Sessions) -> None:
        self.desk = desk
        self.sessions = sessions
        self.views = ConsoleViews(desk)
        use_team_zone(desk.policy.hours.zone)
        # Pages other features add under /console (tickets: bot/web/console/tickets.py).
        self.extra_routes: list[BaseRoute] = []

    @classmethod
    def from_settings(
        cls, desk: Desk, settings: ConsoleSettings, *, secret_key: str | None
    ) -> Console:
        if secret_key is None:
            log.warning(
                "CONSOLE_SECRET_KEY is not set: using a random key, so console logins "
                "end when the bot restarts and do not work across several workers"
            )
        sessions = Sessions(
            db=desk.db,
            secret_key=secret_key or secrets.token_urlsafe(32),
            lifetime=timedelta(hours=settings.session_hours),
            clock=desk.clock,
            secure_cookies=settings.secure_cookies,
        )
        return cls(desk=desk, sessions=sessions)

    def mount(self) -> Mount:
        return Mount(PREFIX, routes=self.routes())

    def routes(self) -> list[BaseRoute]:
        actions: dict[str, Action] = {
            "claim": self._claim,
            "reply": self._reply,
            "handback": self._hand_back,
            "resolve": self._resolve,
            "transfer": self._transfer,
            "note": self._note,
        }

        def action_route(name: str, act: Action) -> Route:
            async def endpoint(request: Request) -> Response:
                return await self._act(request, act)

            return Route(f"/c/{{conversation_id:int}}/{name}", endpoint, methods=["POST"])

        return [
            Route("/", self.dashboard),
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/fragments/lists", self.lists_fragment),
            Route("/c/{conversation_id:int}", self.conversation),
            Route("/c/{conversation_id:int}/fragment", self.conversation_fragment),
            Route("/c/{conversation_id:int}/canned", self.canned),
            Route("/files/{file_id:str}", self.file),
            *(action_route(name, act) for name, act in actions.items()),
            Route("/next", self.take_next, methods=["POST"]),
            Route("/presence", self.presence, methods=["POST"]),
            WebSocketRoute("/ws", self.socket),
            *self.extra_routes,  # tickets pages and any later additions
            Mount("/static", StaticFiles(directory=STATIC), name="console-static"),
        ]

    # --- login -------------------------------------------------------------------------------

    async def login_page(self, request: Request, *, error: str | None = None) -> Response:
        if error is None and await self.sessions.current(request) is not None:
            return RedirectResponse(f"{PREFIX}/", status_code=303)
        token, cookie = self.sessions.login_token()
        page = render("login.html", status_code=401 if error else 200, error=error, token=token)
        self.sessions.set_login_cookie(page, request, cookie)
        return page

    async def login(self, request: Request) -> Response:
        try:
            fields = await form(request)
        except FormTooLarge:
            return secure(Response("form too large", status_code=413))
        if not same_origin(request) or not self.sessions.login_token_ok(
            request, fields.get("token", "")
        ):
            return await self.login_page(request, error="Your login form expired; try again.")
        client = request.client.host if request.client else "?"
        try:
            cookie, agent = await self.sessions.login(
                fields.get("name", ""), fields.get("password", ""), client=client
            )
        except Throttled as exc:
            response = await self.login_page(
                request,
                error=f"Too many failed attempts; try again in {exc.retry_after_s // 60 + 1} min.",
            )
            response.status_code = 429
            return response
        except LoginFailed as exc:
            return await self.login_page(request, error=str(exc))
        # Logging in to the console means starting work: the agent is online.
        await self.desk.set_presence(agent.id, AgentPresence.ONLINE)
        response = RedirectResponse(f"{PREFIX}/", status_code=303)
        self.sessions.set_session(response, request, cookie)
        return secure(response)

    async def logout(self, request: Request) -> Response:
        login = await self._checked(request, await self._form_or_none(request))
        if not isinstance(login, Login):
            return login
        await self.sessions.logout(login)
        await self.desk.set_presence(login.agent_id, AgentPresence.OFFLINE)
        response = RedirectResponse(f"{PREFIX}/login", status_code=303)
        self.sessions.clear_session(response)
        return secure(response)

    # --- pages -------------------------------------------------------------------------------

    async def dashboard(self, request: Request) -> Response:
        login = await self.sessions.current(request)
        if login is None:
            return RedirectResponse(f"{PREFIX}/login", status_code=303)
        await self.desk.heartbeat(login.agent_id)
        board = await self.views.dashboard(login)
        flash = self.sessions.read_flash(request)
        response = render("dashboard.html", login=login, board=board, flash=flash)
        if flash:
            self.sessions.clear_flash(response)
        return response

    async def lists_fragment(self, request: Request) -> Response:
        login = await self.sessions.current(request)
        if login is None:
            return secure(Response("login required", status_code=401))
        board = await self.views.dashboard(login)
        return render("lists.html", login=login, board=board)

    async def conversation(self, request: Request) -> Response:
        login = await self.sessions.current(request)
        if login is None:
            return RedirectResponse(f"{PREFIX}/login", status_code=303)
        await self.desk.heartbeat(login.agent_id)
        page = await self.views.conversation(login, request.path_params["conversation_id"])
        if page is None:
            return render("missing.html", status_code=404, login=login)
        flash = self.sessions.read_flash(request)
        response = render("conversation.html", login=login, page=page, flash=flash)
        if flash:
            self.sessions.clear_flash(response)
        return response

    async def conversation_fragment(self, request: Request) -> Response:
        login = await self.sessions.current(request)
        if login is None:
            return secure(Response("login required", status_code=401))
        page = await self.views.conversation(login, request.path_params["conversation_id"])
        if page is None:
            return secure(Response("no such conversation", status_code=404))
        return render("conversation_live.html", login=login, page=page)

    async def file(self, request: Request) -> Response:
        """A file a customer sent (a photo shown in the conversation, a PDF to download)."""
        return await file_response(request, sessions=self.sessions, db=self.desk.db)

    async def canned(self, request: Request) -> Response:
        """The saved replies, filled in for this chat (the reply box's ``/id`` + Tab)."""
        login = await self.sessions.current(request)
        if login is None:
            return secure(Response("login required", status_code=401))
        try:
            replies = await self.desk.canned_for(
                login.agent_id, request.path_params["conversation_id"]
            )
        except DeskError as exc:
            return secure(Response(str(exc), status_code=exc.status))
        data = [{"id": i, "title": title, "text": text} for i, title, text in replies]
        return secure(JSONResponse(data))

    # --- actions -------------------------------------------------------------------------------

    async def _act(self, request: Request, act: Action) -> Response:
        fields = await self._form_or_none(request)
        if fields is None:
            return secure(Response("form too large", status_code=413))
        login = await self._checked(request, fields)
        if not isinstance(login, Login):
            return login
        conversation_id = int(request.path_params["conversation_id"])
        target = f"{PREFIX}/c/{conversation_id}"
        try:
            await act(login, conversation_id, fields)
        except DeskError as exc:
            return self._outcome(request, target, str(exc), status=exc.status)
        return self._outcome(request, target, None)

    async def _claim(self, login: Login, conversation_id: int, _: dict[str, str]) -> None:
        await self.desk.claim(login.agent_id, conversation_id)

    async def _reply(self, login: Login, conversation_id: int, fields: dict[str, str]) -> None:
        await self.desk.reply(login.agent_id, conversation_id, fields.get("text", ""))

    async def _hand_back(self, login: Login, conversation_id: int, _: dict[str, str]) -> None:
        await self.desk.hand_back(login.agent_id, conversation_id)

    async def _resolve(self, login: Login, conversation_id: int, _: dict[str, str]) -> None:
        await self.desk.resolve(login.agent_id, conversation_id)

    async def _transfer(self, login: Login, conversation_id: int, fields: dict[str, str]) -> None:
        target = fields.get("agent_id", "")
        if not target.isdigit():
            raise DeskError("Choose an agent to transfer the chat to.")
        await self.desk.transfer(login.agent_id, conversation_id, int(target))

    async def _note(self, login: Login, conversation_id: int, fields: dict[str, str]) -> None:
        await self.desk.note(login.agent_id, conversation_id, fields.get("text", ""))

    async def take_next(self, request: Request) -> Response:
        fields = await self._form_or_none(request)
        login = await self._checked(request, fields)
        if not isinstance(login, Login):
            return login
        try:
            picked = await self.desk.take_next(login.agent_id)
        except DeskError as exc:
            return self._outcome(request, f"{PREFIX}/", str(exc), status=exc.status)
        if picked is None:
            return self._outcome(request, f"{PREFIX}/", "Nobody is waiting.", status=409)
        return self._outcome(request, f"{PREFIX}/c/{picked}", None)

    async def presence(self, request: Request) -> Response:
        fields = await self._form_or_none(request)
        login = await self._checked(request, fields)
        if not isinstance(login, Login):
            return login
        choice = (fields or {}).get("presence", "")
        if choice not in (AgentPresence.ONLINE.value, AgentPresence.AWAY.value):
            return self._outcome(request, f"{PREFIX}/", "Choose online or away.", status=400)
        await self.desk.set_presence(login.agent_id, AgentPresence(choice))
        return self._outcome(request, (fields or {}).get("back", f"{PREFIX}/"), None)

    async def socket(self, websocket: WebSocket) -> None:
        await live_socket(
            websocket,
            sessions=self.sessions,
            events=self.desk.events,
            heartbeat=self.desk.heartbeat,
        )

    # --- helpers -------------------------------------------------------------------------------

    async def _form_or_none(self, request: Request) -> dict[str, str] | None:
        try:
            return await form(request)
        except FormTooLarge:
            return None

    async def _checked(self, request: Request, fields: dict[str, str] | None) -> Login | Response:
        """The logged-in agent, if the request also carries their CSRF token from our origin."""
        login = await self.sessions.current(request)
        if login is None:
            return secure(Response("login required", status_code=401))
        submitted = request.headers.get("x-csrf-token") or (fields or {}).get("csrf")
        if not same_origin(request) or not csrf_ok(login, submitted):
            return secure(Response("invalid or missing CSRF token", status_code=403))
        return login

    def _outcome(
        self, request: Request, target: str, error: str | None, *, status: int = 200
    ) -> Response:
        """Scripts get JSON; a plain form post gets redirected back with a one-time message."""
        if request.headers.get("accept", "").startswith("application/json"):
            body = {"ok": error is None, "error": error, "location": target}
            return secure(JSONResponse(body, status_code=status if error else 200))
        # Only our own pages: a form field must not turn this into an open redirect.
        if not target.startswith(f"{PREFIX}/") or "//" in target or "\\" in target:
            target = f"{PREFIX}/"
        response = RedirectResponse(target, status_code=303)
        if error:
            self.sessions.flash(response, request, error)
        return secure(response)

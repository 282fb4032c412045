"""Builds the Starlette app from the running helpdesk's parts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket

from bot.channels.webchat import WebChatChannel
from bot.customers import CustomerDirectory
from bot.customers.linking import LinkCodes
from bot.engine.pipeline import Engine
from bot.web.console import Console
from bot.web.webchat import chat_socket
from bot.web.webchat_links import link_endpoint
from bot.web.webchat_uploads import upload_endpoint

STATIC = Path(__file__).parent / "static"

Readiness = Callable[[], Awaitable[dict[str, object]]]

# The widget is one HTML page, one script and one stylesheet of ours, talking to its own
# origin over a WebSocket ('self' covers ws: and wss: in CSP Level 3 browsers).
CHAT_PAGE_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
)


def chat_page_headers(frame_ancestors: Sequence[str]) -> dict[str, str]:
    """CSP (with ``frame-ancestors``) and the older headers for the chat page."""
    sources = " ".join(frame_ancestors) or "'none'"
    headers = {
        "Content-Security-Policy": "; ".join((*CHAT_PAGE_POLICY, f"frame-ancestors {sources}")),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    # X-Frame-Options, for browsers without frame-ancestors, can say only these two.
    legacy = {"'none'": "DENY", "'self'": "SAMEORIGIN"}.get(sources)
    if legacy is not None:
        headers["X-Frame-Options"] = legacy
    return headers


def create_web_app(
    *,
    engine: Engine,
    webchat: WebChatChannel | None,
    readiness: Readiness,
    lifespan: object = None,
    routes: Sequence[BaseRoute] = (),
    console: Console | None = None,
    frame_ancestors: Sequence[str] = ("'self'",),
    links: LinkCodes | None = None,
) -> Starlette:
    """The one ASGI app; ``routes`` are the channels' webhooks (Telegram, Slack events).

    ``console`` is the agent console, mounted at ``/console``. ``frame_ancestors``
    (``web.frame_ancestors``) says which sites may show the chat page in a frame.
    ``links``: link codes that join a verified customer's Telegram or Slack account.
    """
    page_headers = chat_page_headers(frame_ancestors)

    async def index(_: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=page_headers)

    async def embed(request: Request) -> Response:
        # The frame the snippet opens: only the site's own pages may show it.
        assert webchat is not None
        site = webchat.sites.get(request.query_params.get("site", ""))
        if site is None:
            return PlainTextResponse(
                "unknown site key", status_code=404, headers=chat_page_headers(["'none'"])
            )
        return FileResponse(
            STATIC / "embed.html", headers=chat_page_headers([site.frame_ancestors()])
        )

    async def snippet(_: Request) -> Response:
        # Loaded by other sites' pages with a plain <script src>: no CORS needed; cached
        # briefly, so a fix reaches every shop within minutes.
        return FileResponse(
            STATIC / "snippet.js",
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    async def healthz(_: Request) -> Response:
        state = await readiness()
        return JSONResponse(state, status_code=200 if state.get("ready") else 503)

    async def socket(websocket: WebSocket) -> None:
        assert webchat is not None
        await chat_socket(websocket, webchat, engine, links)

    async def link(request: Request) -> Response:
        assert webchat is not None
        return await link_endpoint(request, webchat, links, CustomerDirectory(engine.db))

    async def upload(request: Request) -> Response:
        assert webchat is not None
        return await upload_endpoint(request, webchat, engine)

    app_routes: list[BaseRoute] = [Route("/healthz", healthz), *routes]
    if console is not None:
        app_routes.append(console.mount())
    if webchat is not None:
        app_routes += [
            Route("/", index),
            Route("/embed", embed),
            Route("/widget.js", snippet),
            WebSocketRoute("/ws/chat", socket),
            Route("/webchat/link", link, methods=["POST"]),  # the shop's server asks
            Route("/webchat/upload", upload, methods=["POST"]),  # the widget's files
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    return Starlette(routes=app_routes, lifespan=lifespan)  # type: ignore[arg-type]

"""Rendering: Jinja2 with autoescape everywhere, and the headers every console page gets.

Customer text only ever reaches the page through ``{{ }}`` (escaped) or, in the live
updates, through ``textContent`` in ``console.js``; the Content-Security-Policy forbids
inline scripts as a second line of defence.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, pass_context
from jinja2.runtime import Context
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bot.storage.models import aware

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
MAX_FORM_BYTES = 64 * 1024

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, enable_async=False)
# The team's time zone (``handoff.business_hours.timezone``): every time on every page is
# shown in it, with the zone named, as the bot tells customers (one desk per process).
_env.globals["team_zone"] = "UTC"


def use_team_zone(zone: ZoneInfo) -> None:
    """Show the console's times in ``zone`` (the console calls it when it is built)."""
    _env.globals["team_zone"] = zone.key


def team_time(value: str | datetime | None, zone: str | None = None) -> str:
    """``2026-11-25 12:30 IST``: a stored (UTC) time in the team's zone, zone named."""
    if not value:
        return "—"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = aware(at).astimezone(ZoneInfo(zone or str(_env.globals["team_zone"])))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def team_clock(value: datetime, zone: str | None = None) -> str:
    """``12:30 IST``: the time of day alone (a chat's timeline), zone named."""
    return team_time(value, zone).split(" ", 1)[1]


# In templates the zone is the page's ``team_zone``: the logged-in agent's own when set.
@pass_context
def _page_time(context: Context, value: str | datetime | None) -> str:
    return team_time(value, context.get("team_zone"))


@pass_context
def _page_clock(context: Context, value: datetime) -> str:
    return team_clock(value, context.get("team_zone"))


_env.filters["team_time"] = _page_time
_env.filters["team_clock"] = _page_clock


def _known_zone(name: str) -> bool:
    # A zone stored once and gone from this machine's tz database: the team's, not a 500.
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


class FormTooLarge(Exception):
    pass


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page; with a ``login`` whose agent has a zone of their own, times are in it."""
    own_zone = getattr(context.get("login"), "timezone", None)
    if own_zone and "team_zone" not in context and _known_zone(own_zone):
        context["team_zone"] = own_zone
    html = _env.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


async def form(request: Request) -> dict[str, str]:
    """A URL-encoded form (all the console posts), first value per field."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormTooLarge
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}

"""Wiring of the admin's HTTP routes: Prometheus ``/metrics`` and console pages."""

from __future__ import annotations

from starlette.routing import BaseRoute

from bot.app import Helpdesk
from bot.reports.metrics import metrics_route
from bot.settings import Settings
from bot.web.console import Console
from bot.web.console.admin import AdminPages


def admin_routes(settings: Settings, helpdesk: Helpdesk) -> list[BaseRoute]:
    """``/metrics`` when ``admin.metrics`` is on (bind ``web.host`` privately, or proxy it)."""
    return [metrics_route(helpdesk.db)] if settings.admin.metrics else []


def admin_console_routes(
    settings: Settings, helpdesk: Helpdesk, console: Console
) -> list[BaseRoute]:
    """The admin pages under ``/console/admin`` (admins only), sharing the console's logins."""
    pages = AdminPages(
        db=helpdesk.db,
        sessions=console.sessions,
        kb=helpdesk.kb,
        answer_threshold=settings.nlu.answer_threshold,
        default_language=settings.bot.default_language,
        watcher=helpdesk.watcher,
        cluster_similarity=settings.admin.cluster_similarity,
    )
    return pages.routes()

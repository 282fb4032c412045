"""``helpdesk run``'s ASGI app: the desk's jobs, the console, the REST API, the webhooks and
``/metrics``; the cluster's "a reply waits" notices; uvicorn's proxy options."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette

from bot.channels import Channel
from bot.channels.webchat import WebChatChannel
from bot.cluster.node import OUTBOX_NOTICE
from bot.desk.reception import SWEEP_EVERY_S
from bot.desk.service import Desk
from bot.desk.slack_notices import SlackKbNotifier
from bot.engine.pipeline import Engine
from bot.nlu.training import Progress
from bot.reports.metrics import metrics_route
from bot.settings import WebSettings
from bot.tickets.alerts import SlackSlaNotifier
from bot.tickets.service import TicketService
from bot.web.api import TicketApi
from bot.web.app import create_web_app
from bot.web.console import Console
from bot.web.console.admin import AdminPages
from bot.web.console.tickets import TicketPages
from bot.web.webchat_retention import SWEEP_EVERY_S as UPLOAD_SWEEP_EVERY_S
from bot.web.webchat_retention import UploadRetention, UploadSweeper
from bot.wiring.channels import link_codes, web_routes
from bot.wiring.desk import attach_slack_desk, build_desk, build_survey_jobs, build_tickets
from bot.wiring.email import wire_email
from bot.wiring.helpdesk import Helpdesk


def build_console(helpdesk: Helpdesk, desk: Desk, tickets: TicketService) -> Console | None:
    """The agent console with its ticket pages and the admins' pages, when enabled."""
    settings = helpdesk.settings
    if not settings.handoff.console.enabled:
        return None
    key = helpdesk.secrets.console_secret_key
    console = Console.from_settings(
        desk, settings.handoff.console, secret_key=key.get_secret_value() if key else None
    )
    admin = AdminPages(  # admins only, sharing the console's logins
        db=helpdesk.db,
        sessions=console.sessions,
        kb=helpdesk.kb,
        answer_threshold=settings.nlu.answer_threshold,
        default_language=settings.bot.default_language,
        watcher=helpdesk.watcher,
        cluster_similarity=settings.admin.cluster_similarity,
        languages=settings.bot.languages,
        kb_source_url=settings.admin.kb_source_url,
    )
    console.extra_routes += admin.routes()
    console.extra_routes += TicketPages(console.sessions, tickets).routes()
    return console


def build_web_app(helpdesk: Helpdesk, channels: list[Channel], progress: Progress) -> Starlette:
    """``helpdesk run``'s ASGI app: the desk, tickets, Slack desk, console, API and webhooks;
    the helpdesk starts in the app's lifespan, and its supervisor runs the background jobs."""
    settings = helpdesk.settings
    desk = build_desk(helpdesk)
    tickets = build_tickets(helpdesk, desk)
    # The engine's collaborators, in one place: the desk admits queued chats and hears
    # customers while a person has the chat; the tickets answer what waits on a customer.
    helpdesk.engine.connect(desk=desk, follow_ups=[tickets])
    helpdesk.tasks.every("handoff-timeouts", SWEEP_EVERY_S, desk.sweep, once_per_cluster=True)
    helpdesk.tasks.every(
        "tickets", settings.tickets.sweep_every_s, tickets.sweep, once_per_cluster=True
    )
    surveys = build_survey_jobs(helpdesk, desk)
    # Customers who left after an answer, follow-ups after resolutions, NPS rounds: once.
    helpdesk.tasks.every(
        "surveys", settings.surveys.check_every_s, surveys.run, once_per_cluster=True
    )
    # Uploads never sent, and (keep_days) old ones: once, even with the web chat off now.
    uploads = settings.channels.webchat.uploads
    retention = UploadRetention(unsent_hours=uploads.unsent_hours, keep_days=uploads.keep_days)
    helpdesk.tasks.every(
        "webchat-uploads",
        UPLOAD_SWEEP_EVERY_S,
        UploadSweeper(helpdesk.db, retention).sweep,
        once_per_cluster=True,
    )
    slack_desk = attach_slack_desk(desk, channels, slack_channel=settings.handoff.slack_channel)
    if slack_desk is not None:
        client, channel_id = slack_desk.slack.client, slack_desk.channel_id
        zone = ZoneInfo(settings.handoff.business_hours.timezone)  # the team's, named
        tickets.notifiers.append(SlackSlaNotifier(client, channel_id, zone=zone))  # SLA alerts
        if helpdesk.watcher is not None:  # rejected KB edits
            helpdesk.watcher.notifiers.append(SlackKbNotifier(client, channel_id))
        # One worker mirrors the desk to Slack (each would post every event again).
        helpdesk.tasks.keep(
            "slack-desk", slack_desk.run, on_stop=slack_desk.stop, once_per_cluster=True
        )
    webchat = next((c for c in channels if isinstance(c, WebChatChannel)), None)
    if helpdesk.cluster is not None and webchat is not None:
        helpdesk.cluster.relay.on_notice(OUTBOX_NOTICE, send_here(helpdesk.engine, webchat))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        # Serve /healthz (503) while the NLU server loads; ready flips when it answers.
        starting = asyncio.create_task(helpdesk.start(progress=progress))
        try:
            yield
        finally:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
            await helpdesk.stop()

    metrics_token = helpdesk.secrets.metrics_token
    metrics = (
        [
            metrics_route(
                helpdesk.db,
                token=metrics_token.get_secret_value() if metrics_token else None,
                networks=settings.admin.metrics_networks,
            )
        ]
        if settings.admin.metrics
        else []
    )
    app = create_web_app(
        engine=helpdesk.engine,
        webchat=webchat,
        readiness=helpdesk.readiness,
        lifespan=lifespan,
        routes=[*web_routes(channels), *metrics, *wire_email(helpdesk, channels, tickets, desk)],
        console=build_console(helpdesk, desk, tickets),
        frame_ancestors=settings.web.frame_ancestors,
        links=link_codes(
            helpdesk.db,
            channels,
            ttl=timedelta(minutes=settings.channels.webchat.link_code_minutes),
        ),
    )
    # tickets REST API at /api/v1, with the numbers
    TicketApi(tickets, answer_threshold=settings.nlu.answer_threshold).install(app)
    return app


Notice = Callable[[dict[str, Any]], Awaitable[None]]


def send_here(engine: Engine, webchat: WebChatChannel) -> Notice:
    """Answer the cluster's "a reply waits" notices for web chat customers connected here."""

    async def handle(notice: dict[str, Any]) -> None:
        key = str(notice.get("conversation_key", ""))
        if notice.get("channel") == webchat.name and webchat.connected(key):
            await engine.flush_outbox(channel=webchat.name, conversation_key=key)

    return handle


def proxy_options(web: WebSettings) -> dict[str, Any]:
    """uvicorn's proxy options: ``X-Forwarded-*`` is trusted only from ``web.forwarded_allow_ips``.

    uvicorn's own default trusts 127.0.0.1 (or ``$FORWARDED_ALLOW_IPS``); a local process
    could then pick any client address, and the login throttle counts per address.
    """
    if not web.forwarded_allow_ips:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(web.forwarded_allow_ips)}

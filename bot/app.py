"""Composition root: the only place that wires concrete pieces together.

:func:`chat` and :func:`serve` are what ``bot.cli`` calls. The builders they use live in
``bot.wiring``, one module per domain: :func:`build_helpdesk` (``wiring/helpdesk.py``)
builds the engine and what it needs (database, knowledge base, NLU client or a
supervised Rasa, channels, knowledge-base watcher); :func:`build_web_app`
(``wiring/web.py``) adds the desk, the ticket service, the Slack desk, the console with
its admin and ticket pages, the REST API and the webhooks, and gives the background jobs
to the helpdesk's :class:`TaskSupervisor`. Their names are importable from here too.
"""

from __future__ import annotations

from bot.nlu.training import Progress
from bot.settings import Secrets, Settings
from bot.wiring.channels import build_channels, embedding_sites, link_codes, web_routes
from bot.wiring.desk import attach_slack_desk, build_desk, build_survey_jobs, build_tickets
from bot.wiring.email import survey_links, wire_email
from bot.wiring.helpdesk import OUTBOX_RETRY_S, Helpdesk, build_helpdesk, join_cluster, prepare
from bot.wiring.nlu import build_watcher, ensure_model
from bot.wiring.web import Notice, build_console, build_web_app, proxy_options, send_here

__all__ = [
    "OUTBOX_RETRY_S",
    "Helpdesk",
    "Notice",
    "attach_slack_desk",
    "build_channels",
    "build_console",
    "build_desk",
    "build_helpdesk",
    "build_survey_jobs",
    "build_tickets",
    "build_watcher",
    "build_web_app",
    "chat",
    "embedding_sites",
    "ensure_model",
    "join_cluster",
    "link_codes",
    "prepare",
    "proxy_options",
    "send_here",
    "serve",
    "survey_links",
    "web_routes",
    "wire_email",
]


async def chat(
    settings: Settings, secrets: Secrets, *, session: str | None, progress: Progress
) -> None:
    """``helpdesk chat``: the same engine, talking on the terminal."""
    from bot.channels.terminal import TerminalChannel

    terminal = TerminalChannel(session=session)
    helpdesk = await prepare(settings, secrets, [terminal], progress)
    # Business hours and "nobody online" apply here too; agents answer from the console
    # of a `helpdesk run` on the same database (their replies reach us via the outbox).
    helpdesk.engine.connect(desk=build_desk(helpdesk))
    try:
        await helpdesk.start(progress=progress)
        if terminal.interactive:
            print("Type your message (Ctrl-D or /quit to leave).")
        await terminal.run()
    finally:
        await helpdesk.stop()


async def serve(settings: Settings, secrets: Secrets, *, progress: Progress) -> None:
    """``helpdesk run``: the whole service on ``web.host``/``web.port`` until interrupted."""
    import uvicorn

    channels = build_channels(settings, secrets)
    helpdesk = await prepare(settings, secrets, channels, progress)
    app = build_web_app(helpdesk, channels, progress)
    config = uvicorn.Config(
        app,
        host=settings.web.host,
        port=settings.web.port,
        log_level=settings.log_level.lower(),
        **proxy_options(settings.web),
    )
    base = f"http://{settings.web.host}:{settings.web.port}"
    progress(f"web chat: {base}/")
    if settings.handoff.console.enabled:
        progress(f"agent console: {base}/console/")
    await uvicorn.Server(config).serve()

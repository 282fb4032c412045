"""Composition root: the only place that wires concrete pieces together.

:func:`build_helpdesk` builds the engine and what it needs (database, knowledge base,
NLU client or a supervised Rasa, channels, knowledge-base watcher); :func:`chat` adds the
desk and talks on the terminal; :func:`build_web_app` adds the desk, the ticket service,
the Slack desk, the console with its admin and ticket pages, the REST API and the
webhooks, and gives the background jobs to the helpdesk's :class:`TaskSupervisor`.
``bot.cli`` parses arguments and calls these.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from bot.channels import Channel, ChannelRegistry, WebhookChannel
from bot.channels.webchat import WebChatChannel
from bot.channels.webchat_sites import Site
from bot.cluster.node import OUTBOX_NOTICE, ClusterNode
from bot.customers.linking import LinkCodes
from bot.desk.canned import CannedReplies
from bot.desk.policy import Clock, HandoffPolicy
from bot.desk.reception import SWEEP_EVERY_S
from bot.desk.service import Desk
from bot.desk.slack_notices import SlackKbNotifier
from bot.engine.pipeline import Engine, EngineOptions
from bot.events import DeskEvents
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.client import NluClient, RasaClient
from bot.nlu.kb_watch import KnowledgeWatcher, Retrainer
from bot.nlu.model_keeping import KEEP_EVERY_S, ModelKeeper
from bot.nlu.model_swap import HotSwapNlu
from bot.nlu.rasa_server import RasaSupervisor
from bot.nlu.replicas import RasaReplicas
from bot.nlu.thresholds import configured as configured_thresholds
from bot.nlu.training import Progress, train_for
from bot.reports.metrics import (
    FailedTurnCounter,
    KbWatchCounters,
    MeteredNlu,
    install_error_counter,
    metered_receive,
    metrics_route,
)
from bot.settings import Secrets, Settings, WebchatSiteSettings, WebSettings
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from bot.surveys.jobs import SurveyJobs
from bot.surveys.plan import SurveyPlan
from bot.tasks import TaskSupervisor
from bot.tickets.alerts import SlackSlaNotifier
from bot.tickets.rules import TicketPolicy
from bot.tickets.service import TicketService
from bot.web.api import TicketApi
from bot.web.app import create_web_app
from bot.web.console import Console
from bot.web.console.admin import AdminPages
from bot.web.console.tickets import TicketPages

if TYPE_CHECKING:
    from bot.channels.email.survey_links import SurveyLinks
    from bot.desk.slack import SlackDesk

log = logging.getLogger(__name__)

OUTBOX_RETRY_S = 5.0


async def ensure_model(settings: Settings, kb: LiveKnowledgeBase, progress: Progress) -> Path:
    """Compile and train if the inputs changed; otherwise reuse the model named by their hash."""
    return await train_for(kb.current, settings.nlu, progress=progress)


def embedding_sites(sites: Sequence[WebchatSiteSettings]) -> list[Site]:
    """The sites that embed the web chat, each with its identity secret from the
    environment; a site that names a variable which is not set does not start."""
    from bot.settings import ConfigError

    built: list[Site] = []
    for site in sites:
        secret: bytes | None = None
        if site.secret_env is not None:
            value = os.environ.get(site.secret_env)
            if not value:
                raise ConfigError(
                    f"channels.webchat.sites: {site.key!r} names secret_env "
                    f"{site.secret_env} but it is not set in the environment"
                )
            secret = value.encode()
        built.append(Site(key=site.key, origins=tuple(site.origins), secret=secret))
    return built


def build_channels(settings: Settings, secrets: Secrets) -> list[Channel]:
    """The customer channels ``helpdesk run`` serves: each one configured and enabled.

    Platform channels start only when their credentials are in the environment, so
    the embedded defaults (no tokens) run the web chat alone.
    """
    channels: list[Channel] = []
    webchat = settings.channels.webchat
    if webchat.enabled:
        channels.append(
            WebChatChannel(
                max_text_chars=webchat.max_text_chars,
                allowed_origins=webchat.allowed_origins,
                sites=embedding_sites(webchat.sites),
            )
        )
    slack = settings.channels.slack
    if slack.enabled and secrets.slack_bot_token and secrets.slack_signing_secret:
        from bot.channels.slack.channel import SlackChannel
        from bot.settings import ConfigError

        app_token = secrets.slack_app_token.get_secret_value() if secrets.slack_app_token else None
        if slack.mode == "socket" and not app_token:
            raise ConfigError("channels.slack.mode is 'socket' but SLACK_APP_TOKEN is not set")
        channels.append(
            SlackChannel(
                slack,
                bot_token=secrets.slack_bot_token.get_secret_value(),
                signing_secret=secrets.slack_signing_secret.get_secret_value(),
                app_token=app_token,
                max_text_chars=settings.channels.max_text_chars,
                catalogue=Catalogue.load(default_language=settings.bot.default_language),
            )
        )
    telegram = settings.channels.telegram
    if telegram.enabled and secrets.telegram_bot_token:
        from bot.channels.telegram.channel import TelegramChannel, command_menu

        webhook_secret = secrets.telegram_webhook_secret
        channels.append(
            TelegramChannel(  # raises ConfigError for a webhook without secret or URL
                token=secrets.telegram_bot_token.get_secret_value(),
                settings=telegram,
                webhook_secret=webhook_secret.get_secret_value() if webhook_secret else None,
                commands=command_menu(
                    Catalogue.load(default_language=settings.bot.default_language),
                    languages=settings.bot.languages,
                ),
                max_text_chars=settings.channels.max_text_chars,
                catalogue=Catalogue.load(default_language=settings.bot.default_language),
            )
        )
    email = settings.channels.email
    if email.enabled and email.address and email.imap_host and secrets.email_imap_password:
        from bot.channels.email.channel import email_channel

        smtp_password = secrets.email_smtp_password
        channels.append(
            email_channel(
                email,
                imap_password=secrets.email_imap_password.get_secret_value(),
                smtp_password=smtp_password.get_secret_value() if smtp_password else None,
                max_text_chars=settings.channels.max_text_chars,
                catalogue=Catalogue.load(default_language=settings.bot.default_language),
                survey_links=survey_links(settings, secrets),
            )
        )
    return channels


def survey_links(settings: Settings, secrets: Secrets) -> SurveyLinks | None:
    """Signed survey links in mail: with ``channels.email.survey_links.base_url`` and
    ``SURVEY_LINK_SECRET``; otherwise a mail's survey is answered with a number."""
    from bot.channels.email.survey_links import SurveyLinks
    from bot.settings import ConfigError

    configured = settings.channels.email.survey_links
    secret = secrets.survey_link_secret
    if configured.base_url is None or secret is None:
        return None
    if len(secret.get_secret_value()) < 32:
        raise ConfigError("SURVEY_LINK_SECRET: at least 32 characters (e.g. openssl rand -hex 32)")
    return SurveyLinks(
        base_url=configured.base_url,
        secret=secret.get_secret_value().encode(),
        valid_s=configured.valid_days * 86400,
    )


def wire_email(
    helpdesk: Helpdesk, channels: list[Channel], tickets: TicketService
) -> list[BaseRoute]:
    """With the email channel running: chat customers' ticket notifications by email when
    their chat cannot take them (a job, once per cluster), and the survey links' page."""
    from bot.channels.email.channel import EmailChannel

    email = next((c for c in channels if isinstance(c, EmailChannel)), None)
    if email is None:
        return []
    notices = helpdesk.settings.channels.email.notices
    if notices.enabled and notices.events:
        from bot.tickets.email_notices import EmailNotices

        tickets.email_notices = frozenset(notices.events)
        job = EmailNotices(
            db=helpdesk.db,
            line=helpdesk.engine,
            catalogue=helpdesk.catalogue,
            settings=notices,
            clock=tickets.clock,
        )
        helpdesk.tasks.every("email-notices", notices.check_every_s, job.run, once_per_cluster=True)
    if email.survey_links is None:
        return []
    from bot.web.survey_page import SurveyPage

    page = SurveyPage(
        db=helpdesk.db,
        links=email.survey_links,
        catalogue=helpdesk.catalogue,
        brand=helpdesk.settings.bot.brand,
        plan=tickets.surveys,
    )
    return page.routes()


def web_routes(channels: list[Channel]) -> list[BaseRoute]:
    """The HTTP routes (webhooks, event endpoints) of the channels that have them."""
    return [
        route
        for channel in channels
        if isinstance(channel, WebhookChannel)
        for route in channel.routes()
    ]


@dataclass
class Helpdesk:
    """Everything ``helpdesk run`` and ``helpdesk chat`` run, started and stopped together."""

    settings: Settings
    secrets: Secrets
    db: Database
    kb: LiveKnowledgeBase
    catalogue: Catalogue
    channels: ChannelRegistry
    engine: Engine
    nlu: NluClient
    supervisor: RasaSupervisor | None = None
    watcher: KnowledgeWatcher | None = None  # live knowledge-base edits
    model_keeper: ModelKeeper | None = None  # models of external replicas (nlu.keep_models)
    tasks: TaskSupervisor = field(default_factory=TaskSupervisor)
    events: DeskEvents = field(default_factory=DeskEvents)  # the desk's live events
    cluster: ClusterNode | None = None  # cluster.enabled: this worker's part in it
    ready: bool = False

    async def start(self, *, progress: Progress = print) -> None:
        if self.settings.database.auto_migrate:
            await upgrade_async(self.settings.database.url)
        self.tasks.start()  # the sweeps and the Slack mirror run while the NLU server loads
        if self.supervisor is not None:
            progress("starting the NLU server ...")
            await self.supervisor.start()
            await self.supervisor.wait_ready(self.settings.nlu.startup_timeout_s)
        for channel in self.channels:
            # counted and timed for /metrics
            await channel.start(metered_receive(self.engine.receive))
        # With several workers, a message stored a moment ago may be another live worker's.
        cluster = self.settings.cluster
        recovered = await self.engine.recover(
            older_than_s=cluster.orphan_after_s if self.cluster else 0.0
        )
        if recovered:
            log.info("answered %d messages stored before the last stop", recovered)
        # Only once the channels run: a retried reply needs its channel.
        self.tasks.every(
            "outbox-retry", OUTBOX_RETRY_S, self.engine.flush_outbox, once_per_cluster=True
        )
        # Messages that met an NLU outage get their real answer once it is back.
        self.tasks.every(
            "nlu-waiting", OUTBOX_RETRY_S, self.engine.answer_waiting, once_per_cluster=True
        )
        if self.cluster is not None:
            # On every worker: a dead worker's messages are answered within seconds.
            async def orphans() -> int:
                return await self.engine.answer_orphans(older_than_s=cluster.orphan_after_s)

            self.tasks.every("orphans", cluster.orphan_sweep_s, orphans)
        if self.watcher is not None:
            self.tasks.keep("kb-watch", self.watcher.run, on_stop=self.watcher.stop)
        if self.model_keeper is not None:
            self.tasks.every(
                "nlu-models", KEEP_EVERY_S, self.model_keeper.keep_once, once_per_cluster=True
            )
        self.ready = True

    async def readiness(self) -> dict[str, object]:
        nlu_ready = await self.nlu.ready() if self.ready else False
        return {
            "ready": self.ready and nlu_ready,
            "nlu": nlu_ready,
            "knowledge_base_entries": len(self.kb.current),
        }

    async def stop(self) -> None:
        self.ready = False
        await self.tasks.stop()  # also ends a running retrain and the Slack desk's work
        if self.cluster is not None:
            await self.cluster.close()  # hands the lead over at once
        for channel in self.channels:
            await channel.stop()
        await self.nlu.close()
        if self.supervisor is not None:
            await self.supervisor.stop()
        await self.db.dispose()


def build_helpdesk(
    settings: Settings,
    secrets: Secrets,
    *,
    channels: list[Channel],
    model: Path | None,
    rasa_token: str | None = None,
) -> Helpdesk:
    """Wire the parts. With ``nlu.url`` set, use that Rasa; else supervise our own on ``model``."""
    db = Database(settings.database.url, echo=settings.database.echo)
    kb = LiveKnowledgeBase(
        settings.knowledge_base.path, default_language=settings.bot.default_language
    )
    catalogue = Catalogue.load(default_language=settings.bot.default_language)
    supervisor: RasaSupervisor | None = None
    nlu: NluClient
    replicas: RasaReplicas | None = None
    if len(settings.nlu.urls) > 1 or (settings.nlu.urls and settings.nlu.keep_models):
        # several servers (a dead one skipped), or servers whose models the bot loads
        replicas = RasaReplicas(
            settings.nlu.urls, token=rasa_token, timeout_s=settings.nlu.timeout_s
        )
        nlu = replicas
    elif settings.nlu.urls:
        nlu = RasaClient(settings.nlu.urls[0], token=rasa_token, timeout_s=settings.nlu.timeout_s)
    else:
        if model is None:
            raise ValueError("a trained model is needed to start the local NLU server")
        supervisor = RasaSupervisor(
            rasa_venv=settings.nlu.rasa_venv, model=model, port=settings.nlu.rasa_port
        )
        nlu = supervisor.client(timeout_s=settings.nlu.timeout_s)
        # parses wait out a model swap instead of failing
        nlu = HotSwapNlu(nlu, base_url=supervisor.url, token=supervisor.token)
    install_error_counter()  # errors_total on /metrics
    thresholds = configured_thresholds(settings.nlu)
    nlu = MeteredNlu(nlu, thresholds=thresholds)
    registry = ChannelRegistry()
    for channel in channels:
        registry.add(channel)
        if channel.name == "email":
            # Threads outlive the process: the stored history gives a reply its headers.
            from bot.channels.email.channel import EmailChannel
            from bot.tickets.email_threads import EmailThreadDirectory

            if isinstance(channel, EmailChannel):
                channel.directory = EmailThreadDirectory(db)
    events = DeskEvents()
    node = join_cluster(settings, secrets, events)
    engine = Engine(
        db=db,
        nlu=nlu,
        kb=kb,
        catalogue=catalogue,
        channels=registry,
        options=EngineOptions(
            brand=settings.bot.brand,
            default_language=settings.bot.default_language,
            languages=tuple(settings.bot.languages),
            thresholds=thresholds,
            low_confidence_turns=settings.nlu.low_confidence_turns,
            ask_helpful=settings.admin.helpful_buttons,
            surveys=SurveyPlan.from_settings(settings.surveys),
            max_parse_chars=settings.nlu.max_parse_chars,
            max_concurrent_parses=settings.nlu.max_concurrent_parses,
        ),
        failures=FailedTurnCounter(),  # failed_turns_total on /metrics
        shared=node.locks if node else None,
        on_offline=node.ask_to_send if node else None,
    )
    watcher = build_watcher(settings, kb, nlu, supervisor)
    tasks = TaskSupervisor(leader=node.leadership.is_leader if node else None)
    if node is not None:
        # Events from the other workers reach this worker's consoles, and back.
        tasks.keep("desk-events-relay", node.relay.run, on_stop=node.relay.stop)
        if watcher is not None and watcher.retrainer is not None and not supervisor:
            watcher.may_retrain = node.leadership.is_leader  # one trainer: the shared store
    return Helpdesk(
        settings=settings,
        secrets=secrets,
        db=db,
        kb=kb,
        catalogue=catalogue,
        channels=registry,
        engine=engine,
        nlu=nlu,
        supervisor=supervisor,
        watcher=watcher,
        model_keeper=(
            ModelKeeper(kb, settings.nlu, replicas)
            if replicas is not None and settings.nlu.keep_models
            else None
        ),
        tasks=tasks,
        events=events,
        cluster=node,
    )


def join_cluster(settings: Settings, secrets: Secrets, events: DeskEvents) -> ClusterNode | None:
    """This worker's part in a cluster (``cluster.enabled``); ``None`` for one process alone."""
    if not settings.cluster.enabled:
        return None
    if secrets.redis_url is None:  # load_settings refuses this already; wiring by hand may not
        raise ValueError("cluster.enabled needs REDIS_URL")
    return ClusterNode.join(
        settings.cluster,
        database_url=settings.database.url,
        redis_url=secrets.redis_url.get_secret_value(),
        events=events,
    )


def build_watcher(
    settings: Settings, kb: LiveKnowledgeBase, nlu: NluClient, supervisor: RasaSupervisor | None
) -> KnowledgeWatcher | None:
    """The knowledge-base watcher; it retrains and hot-swaps a Rasa we supervise, or the
    external replicas with ``nlu.keep_models`` (on a cluster's leader: ``may_retrain``)."""
    if not settings.admin.watch_knowledge_base:
        return None
    retrainer = None
    kept = settings.nlu.keep_models and bool(settings.nlu.urls)
    if isinstance(nlu, MeteredNlu | HotSwapNlu) and (supervisor is not None or kept):
        retrainer = Retrainer(
            pipeline=settings.nlu.pipeline,
            build_dir=settings.nlu.build_dir,
            models_dir=settings.nlu.models_dir,
            rasa_venv=settings.nlu.rasa_venv,
            loader=nlu,
        )

    def swapped(model: Path) -> None:
        if supervisor is not None:
            supervisor.model = model  # a restarted Rasa serves the new model, not the first

    return KnowledgeWatcher(
        kb,
        retrainer=retrainer,
        interval_s=settings.admin.watch_interval_s,
        on_swapped=swapped,
        counters=KbWatchCounters(),  # reloads and swaps on /metrics
    )


def build_desk(helpdesk: Helpdesk, *, clock: Clock | None = None) -> Desk:
    """The agent desk for a helpdesk, writing to customers through its engine."""
    settings = helpdesk.settings
    desk = Desk(
        db=helpdesk.db,
        line=helpdesk.engine,
        catalogue=helpdesk.catalogue,
        brand=settings.bot.brand,
        policy=HandoffPolicy.from_settings(settings.handoff),
        clock=clock,
        events=helpdesk.events,
        surveys=SurveyPlan.from_settings(settings.surveys),
    )
    desk.canned = CannedReplies.load(
        Path(settings.handoff.canned_replies), default_language=settings.bot.default_language
    )
    return desk


def build_tickets(helpdesk: Helpdesk, desk: Desk) -> TicketService:
    """The ticket service for a helpdesk: SLA alerts go out on the desk's events (every
    open console), on the desk's clock."""
    service = TicketService(
        db=helpdesk.db,
        line=helpdesk.engine,
        catalogue=helpdesk.catalogue,
        brand=helpdesk.settings.bot.brand,
        policy=TicketPolicy.from_settings(helpdesk.settings),
        events=desk.events,
        clock=desk.clock,
        surveys=desk.core.surveys,
    )
    return service


def build_survey_jobs(helpdesk: Helpdesk, desk: Desk) -> SurveyJobs:
    """The survey job (bot/surveys/jobs.py), asking through the engine, on the desk's clock."""
    return SurveyJobs(
        db=helpdesk.db,
        line=helpdesk.engine,
        plan=desk.core.surveys,
        phrases=desk.core.phrases,
        answer_threshold=helpdesk.settings.nlu.answer_threshold,
        clock=desk.clock,
    )


def attach_slack_desk(
    desk: Desk, channels: list[Channel], *, slack_channel: str | None
) -> SlackDesk | None:
    """The Slack desk when ``handoff.slack_channel`` is set and the Slack channel runs."""
    if not slack_channel:
        return None
    from bot.channels.slack.channel import SlackChannel
    from bot.desk.slack import SlackDesk

    slack = next((c for c in channels if isinstance(c, SlackChannel)), None)
    if slack is None:
        log.warning(
            "handoff.slack_channel is set but the Slack channel is not running "
            "(SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET); the Slack desk is off"
        )
        return None
    slack_desk = SlackDesk(desk, slack, slack_channel)
    slack_desk.attach()
    return slack_desk


async def prepare(
    settings: Settings, secrets: Secrets, channels: list[Channel], progress: Progress
) -> Helpdesk:
    """Train the model if it is missing or stale (unless ``nlu.url`` names a Rasa), then wire."""
    model = None
    if not settings.nlu.urls:
        kb = LiveKnowledgeBase(
            settings.knowledge_base.path, default_language=settings.bot.default_language
        )
        model = await ensure_model(settings, kb, progress)
    token = secrets.rasa_token.get_secret_value() if secrets.rasa_token else None
    return build_helpdesk(settings, secrets, channels=channels, model=model, rasa_token=token)


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
        routes=[*web_routes(channels), *metrics, *wire_email(helpdesk, channels, tickets)],
        console=build_console(helpdesk, desk, tickets),
        frame_ancestors=settings.web.frame_ancestors,
        links=link_codes(helpdesk.db, channels),
    )
    # tickets REST API at /api/v1, with the numbers
    TicketApi(tickets, answer_threshold=settings.nlu.answer_threshold).install(app)
    return app


Notice = Callable[[dict[str, Any]], Awaitable[None]]


def link_codes(db: Database, channels: list[Channel]) -> LinkCodes:
    """Codes that join a verified web chat customer's Telegram or Slack account to them,
    for the channels that run here (Telegram's deep link needs the bot's @name)."""
    from bot.channels.slack.channel import SlackChannel
    from bot.channels.telegram.channel import TelegramChannel

    telegram = next((c for c in channels if isinstance(c, TelegramChannel)), None)
    return LinkCodes(
        db,
        telegram_username=telegram.username if telegram is not None else lambda: None,
        slack=any(isinstance(c, SlackChannel) for c in channels),
    )


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

"""Composition root: the only place that wires concrete pieces together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from starlette.routing import BaseRoute

from bot.channels import Channel, ChannelRegistry, WebhookChannel
from bot.channels.webchat import WebChatChannel
from bot.desk.policy import Clock, HandoffPolicy
from bot.desk.service import Desk
from bot.engine.pipeline import Engine, EngineOptions
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.client import NluClient, RasaClient
from bot.nlu.kb_watch import KnowledgeWatcher, Retrainer
from bot.nlu.model_swap import HotSwapNlu
from bot.nlu.rasa_server import RasaSupervisor
from bot.nlu.thresholds import configured as configured_thresholds
from bot.nlu.training import Progress, compile_project, train
from bot.reports.metrics import MeteredNlu, install_error_counter, metered_receive
from bot.settings import Secrets, Settings
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from bot.tickets.rules import TicketPolicy
from bot.tickets.service import TicketService

log = logging.getLogger(__name__)

OUTBOX_RETRY_S = 5.0


async def ensure_model(settings: Settings, kb: LiveKnowledgeBase, progress: Progress) -> Path:
    """Compile and train if the inputs changed; otherwise reuse the model named by their hash."""
    project = compile_project(
        kb.current, pipeline=settings.nlu.pipeline, build_dir=settings.nlu.build_dir
    )
    return await train(
        project,
        models_dir=settings.nlu.models_dir,
        rasa_venv=settings.nlu.rasa_venv,
        progress=progress,
    )


def build_channels(settings: Settings, secrets: Secrets) -> list[Channel]:
    """The customer channels ``helpdesk run`` serves: each one configured and enabled.

    Platform channels start only when their credentials are in the environment, so
    the embedded defaults (no tokens) run the web chat alone.
    """
    channels: list[Channel] = []
    if settings.channels.webchat.enabled:
        channels.append(WebChatChannel())
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
            )
        )
    return channels


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
    ready: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self, *, progress: Progress = print) -> None:
        if self.settings.database.auto_migrate:
            await upgrade_async(self.settings.database.url)
        if self.supervisor is not None:
            progress("starting the NLU server ...")
            await self.supervisor.start()
            await self.supervisor.wait_ready(self.settings.nlu.startup_timeout_s)
        for channel in self.channels:
            # counted and timed for /metrics
            await channel.start(metered_receive(self.engine.receive))
        recovered = await self.engine.recover()
        if recovered:
            log.info("answered %d messages stored before the last stop", recovered)
        self._tasks.append(asyncio.create_task(self._retry_outbox(), name="outbox-retry"))
        if self.watcher is not None:
            self._tasks.append(asyncio.create_task(self.watcher.run(), name="kb-watch"))
        self.ready = True

    async def _retry_outbox(self) -> None:
        while True:
            await asyncio.sleep(OUTBOX_RETRY_S)
            try:
                await self.engine.flush_outbox()
            except Exception:  # keep retrying: a database blip must not end the loop
                log.exception("outbox retry failed")

    async def readiness(self) -> dict[str, object]:
        nlu_ready = await self.nlu.ready() if self.ready else False
        return {
            "ready": self.ready and nlu_ready,
            "nlu": nlu_ready,
            "knowledge_base_entries": len(self.kb.current),
        }

    async def stop(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.watcher is not None:  # end a running retrain
            await self.watcher.stop()
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
    if settings.nlu.url:
        nlu = RasaClient(settings.nlu.url, token=rasa_token, timeout_s=settings.nlu.timeout_s)
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
        ),
    )
    watcher = build_watcher(settings, kb, nlu, supervisor)
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
    )


def build_watcher(
    settings: Settings, kb: LiveKnowledgeBase, nlu: NluClient, supervisor: RasaSupervisor | None
) -> KnowledgeWatcher | None:
    """The knowledge-base watcher; it retrains and hot-swaps only a Rasa we supervise."""
    if not settings.admin.watch_knowledge_base:
        return None
    retrainer = None
    if supervisor is not None and isinstance(nlu, MeteredNlu | HotSwapNlu):
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
        kb, retrainer=retrainer, interval_s=settings.admin.watch_interval_s, on_swapped=swapped
    )


def attach_desk(helpdesk: Helpdesk, *, clock: Clock | None = None) -> Desk:
    """Build the desk for a running helpdesk and connect it to the engine."""
    settings = helpdesk.settings
    desk = Desk(
        db=helpdesk.db,
        line=helpdesk.engine,
        catalogue=helpdesk.catalogue,
        brand=settings.bot.brand,
        policy=HandoffPolicy.from_settings(settings.handoff),
        clock=clock,
    )
    helpdesk.engine.attach_desk(desk)
    return desk


def attach_tickets(helpdesk: Helpdesk, desk: Desk | None = None) -> TicketService:
    """Build the ticket service for a running helpdesk: the engine hears follow-ups, and
    SLA alerts go out on the desk's events (every open console)."""
    service = TicketService(
        db=helpdesk.db,
        line=helpdesk.engine,
        catalogue=helpdesk.catalogue,
        brand=helpdesk.settings.bot.brand,
        policy=TicketPolicy.from_settings(helpdesk.settings),
        events=desk.events if desk is not None else None,
        clock=desk.clock if desk is not None else None,
    )
    helpdesk.engine.interceptors.append(service.follow_up)
    return service

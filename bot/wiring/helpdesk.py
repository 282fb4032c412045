"""The helpdesk: the engine and what it needs, started and stopped together."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from bot.channels import Channel, ChannelRegistry
from bot.cluster.node import ClusterNode
from bot.engine.pipeline import Engine, EngineOptions
from bot.events import DeskEvents
from bot.i18n import Catalogue
from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.client import NluClient
from bot.nlu.kb_watch import KnowledgeWatcher
from bot.nlu.model_keeping import KEEP_EVERY_S, ModelKeeper
from bot.nlu.rasa_server import RasaSupervisor
from bot.nlu.thresholds import configured as configured_thresholds
from bot.nlu.training import Progress
from bot.reports.metrics import (
    FailedTurnCounter,
    MeteredNlu,
    install_error_counter,
    metered_receive,
)
from bot.settings import Secrets, Settings
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from bot.surveys.plan import SurveyPlan
from bot.tasks import TaskSupervisor
from bot.wiring.nlu import build_watcher, ensure_model, nlu_servers

log = logging.getLogger(__name__)

OUTBOX_RETRY_S = 5.0


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
    nlu, supervisor, replicas = nlu_servers(settings.nlu, model=model, rasa_token=rasa_token)
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

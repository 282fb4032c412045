"""Composition root: the only place that wires concrete pieces together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from bot.channels import Channel, ChannelRegistry
from bot.engine import Engine, EngineOptions
from bot.i18n import Catalogue
from bot.knowledge import LiveKnowledgeBase
from bot.nlu import NluClient, RasaClient
from bot.rasa_server import RasaSupervisor
from bot.settings import Secrets, Settings
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from bot.training import Progress, compile_project, train

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
            await channel.start(self.engine.receive)
        recovered = await self.engine.recover()
        if recovered:
            log.info("answered %d messages stored before the last stop", recovered)
        self._tasks.append(asyncio.create_task(self._retry_outbox(), name="outbox-retry"))
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
            answer_threshold=settings.nlu.answer_threshold,
            low_confidence_turns=settings.nlu.low_confidence_turns,
        ),
    )
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
    )

"""Model keeping for external Rasa replicas: the model of the current knowledge base, everywhere.

With ``nlu.keep_models`` the bot owns the model of Rasa servers it does not run: one
worker (the cluster's leader) calls :meth:`ModelKeeper.keep_once` every
:data:`KEEP_EVERY_S`. Each run compiles the knowledge base as it is now, trains its model
if the shared model store (``nlu.models_dir``) lacks it, and loads it on every replica
whose ``GET /status`` names another model or none: one that restarted with an older
file, was down during the last swap, or started with an empty store. So no replica
serves a model older than the knowledge base for longer than one training and one swap
after the edit reaches the leader (the leader's knowledge-base watcher starts that
training at once; this run is the backstop for everything the watcher cannot see).

Models are named by the hash of their inputs, so a run with nothing to do costs one
compile of the knowledge base (milliseconds) and one ``GET /status`` per replica.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.replicas import RasaReplicas, SwapReport
from bot.nlu.training import compile_project, model_path, train
from bot.settings import NluSettings

log = logging.getLogger(__name__)

KEEP_EVERY_S = 15.0
"""How often the leader checks: a restarted replica serves the current model within this
long plus one load; a model-less replica is not ready (``/healthz``) meanwhile."""


@dataclass(frozen=True, slots=True)
class KeepReport:
    """What a run did: the model it keeps, whether it trained it, where it went."""

    model: Path
    trained: bool
    swap: SwapReport


class ModelKeeper:
    """Trains the current knowledge base's model when missing and puts it on every replica."""

    def __init__(
        self, kb: LiveKnowledgeBase, settings: NluSettings, replicas: RasaReplicas
    ) -> None:
        self.kb = kb
        self.settings = settings
        self.replicas = replicas
        # Its own build directory: the watcher's retrain may compile another version of
        # the knowledge base into nlu.build_dir while this run trains from its files.
        self.build_dir = settings.build_dir.with_name(settings.build_dir.name + "-keeper")
        self._running = asyncio.Lock()
        self.last: KeepReport | None = None

    async def keep_once(self) -> KeepReport:
        """Make sure the replicas serve the current knowledge base's model (one run)."""
        async with self._running:  # a training that outlasts the period is not started twice
            project = compile_project(
                self.kb.current, pipeline=self.settings.pipeline, build_dir=self.build_dir
            )
            trained = not model_path(project, self.settings.models_dir).exists()
            if trained:
                log.info("no model for the current knowledge base yet; training it")
            model = await train(
                project,
                models_dir=self.settings.models_dir,
                rasa_venv=self.settings.rasa_venv,
                progress=_log_progress,
            )
            # The replicas resolve the path on their side: hand them an absolute one,
            # the same on both sides of the shared volume.
            swap = await self.replicas.keep_model(str(model.resolve()))
            if swap.down or swap.failed:
                log.warning(
                    "model %s not on every rasa replica: down %s, refused %s",
                    model.name,
                    swap.down,
                    sorted(swap.failed),
                )
            self.last = KeepReport(model=model, trained=trained, swap=swap)
            return self.last


def _log_progress(line: str) -> None:
    log.info("model keeping: %s", line)

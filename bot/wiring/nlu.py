"""The NLU's wiring: the model trained when stale, the client (an external Rasa, its
replicas, or a supervised one hot-swapped), and the knowledge-base watcher."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from bot.knowledge.loader import LiveKnowledgeBase
from bot.nlu.client import NluClient, RasaClient
from bot.nlu.kb_watch import KnowledgeWatcher, Retrainer
from bot.nlu.model_swap import HotSwapNlu
from bot.nlu.rasa_server import RasaSupervisor
from bot.nlu.replicas import RasaReplicas
from bot.nlu.training import Progress, train_for
from bot.reports.metrics import KbWatchCounters, MeteredNlu
from bot.settings import NluSettings, Settings


async def ensure_model(settings: Settings, kb: LiveKnowledgeBase, progress: Progress) -> Path:
    """Compile and train if the inputs changed; otherwise reuse the model named by their hash."""
    return await train_for(kb.current, settings.nlu, progress=progress)


class NluServers(NamedTuple):
    """The NLU as the helpdesk reaches it, and what it supervises or keeps models on."""

    client: NluClient
    supervisor: RasaSupervisor | None  # our own Rasa (no ``nlu.url``)
    replicas: RasaReplicas | None  # several external servers, or ``nlu.keep_models``


def nlu_servers(settings: NluSettings, *, model: Path | None, rasa_token: str | None) -> NluServers:
    """With ``nlu.url`` set, that Rasa (or those replicas); else our own, supervised, on
    ``model`` and wrapped in :class:`HotSwapNlu`."""
    supervisor: RasaSupervisor | None = None
    nlu: NluClient
    replicas: RasaReplicas | None = None
    if len(settings.urls) > 1 or (settings.urls and settings.keep_models):
        # several servers (a dead one skipped), or servers whose models the bot loads
        replicas = RasaReplicas(settings.urls, token=rasa_token, timeout_s=settings.timeout_s)
        nlu = replicas
    elif settings.urls:
        nlu = RasaClient(settings.urls[0], token=rasa_token, timeout_s=settings.timeout_s)
    else:
        if model is None:
            raise ValueError("a trained model is needed to start the local NLU server")
        supervisor = RasaSupervisor(
            rasa_venv=settings.rasa_venv, model=model, port=settings.rasa_port
        )
        nlu = supervisor.client(timeout_s=settings.timeout_s)
        # parses wait out a model swap instead of failing
        nlu = HotSwapNlu(nlu, base_url=supervisor.url, token=supervisor.token)
    return NluServers(nlu, supervisor, replicas)


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

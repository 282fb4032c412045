"""Live knowledge-base edits: watch ``knowledge_base/``, reload the entries, retrain the model.

``helpdesk run`` polls the FAQ files' sizes and modification times (no extra dependency,
and it works on every file system, network mounts included). On a change:

- the files are reloaded through :class:`~bot.knowledge.loader.LiveKnowledgeBase`: a valid edit
  is served by the very next reply (before any retrain); a broken one is logged,
  kept in :attr:`KnowledgeWatcher.status` for the console, and handed to every notifier
  (the Slack agents channel subscribes there) while the last good knowledge base stays live;
- when the training examples changed (questions or answers added, edited or removed,
  entries added or removed) a background retrain starts and the new model is hot-swapped
  into the running Rasa server (``PUT /model``). Rasa keeps answering with the old model until the
  new one is loaded, so no message fails during the swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from bot.knowledge.loader import KbError, LiveKnowledgeBase
from bot.nlu.training import Progress, compile_project, train

log = logging.getLogger(__name__)

KbErrorNotifier = Callable[[list[KbError]], Awaitable[None]]
"""Called with the errors of a rejected edit (e.g. to post them to the Slack agents channel)."""

ModelSwapped = Callable[[Path], None]

MayRetrain = Callable[[], Awaitable[bool]]
"""Whether this worker is the one that retrains (the cluster's leader check)."""


class WatchCounters(Protocol):
    """Where the watcher counts what it did; the app passes the ``/metrics`` counters."""

    def reloaded(self, *, ok: bool) -> None:
        """An edit was reloaded (``ok``) or rejected."""
        ...

    def swapped(self) -> None:
        """A retrained model went live."""
        ...


class _Uncounted:
    def reloaded(self, *, ok: bool) -> None:
        return None

    def swapped(self) -> None:
        return None


class ModelLoader(Protocol):
    """What the watcher needs of the NLU server: load a model file (``RasaClient``)."""

    async def load_model(self, model_path: str) -> None: ...


@dataclass
class KbStatus:
    """What the console shows about the knowledge base and its model."""

    entries: int = 0
    errors: list[KbError] = field(default_factory=list)
    last_reload_at: datetime | None = None
    model: Path | None = None
    training: bool = False
    training_error: str | None = None
    last_swap_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Retrainer:
    """Compiles and trains the knowledge base, then swaps the model into the NLU server."""

    pipeline: list[dict[str, Any]]
    build_dir: Path
    models_dir: Path
    rasa_venv: Path
    loader: ModelLoader

    async def retrain(self, kb: LiveKnowledgeBase, progress: Progress) -> Path:
        project = compile_project(kb.current, pipeline=self.pipeline, build_dir=self.build_dir)
        model = await train(
            project, models_dir=self.models_dir, rasa_venv=self.rasa_venv, progress=progress
        )
        # Rasa resolves the path in its own working directory: hand it an absolute one.
        await self.loader.load_model(str(model.resolve()))
        return model


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """(mtime_ns, size) per FAQ file: cheap to poll, and it changes on every save."""
    files: dict[str, tuple[int, int]] = {}
    for pattern in ("*.yml", "*.yaml"):
        for path in directory.glob(pattern):
            with contextlib.suppress(FileNotFoundError):  # removed between glob and stat
                stat = path.stat()
                files[path.name] = (stat.st_mtime_ns, stat.st_size)
    return files


class KnowledgeWatcher:
    """Polls the knowledge base directory and applies edits while the bot runs."""

    def __init__(
        self,
        kb: LiveKnowledgeBase,
        *,
        retrainer: Retrainer | None = None,
        interval_s: float = 0.5,
        on_swapped: ModelSwapped | None = None,
        counters: WatchCounters | None = None,
        may_retrain: MayRetrain | None = None,
    ) -> None:
        self.kb = kb
        self.may_retrain = may_retrain
        """Asked before each retrain; None: always. In a cluster whose workers share one
        model (external replicas kept by the bot) it is the leader check, so one worker
        trains while every worker reloads the answers. A worker that supervises its own
        Rasa must retrain for it: leave it None there."""
        self.counters: WatchCounters = counters or _Uncounted()
        self.retrainer = retrainer
        self.interval_s = interval_s
        self.on_swapped = on_swapped
        self.notifiers: list[KbErrorNotifier] = []
        self.status = KbStatus(entries=len(kb.current))
        self.swaps = 0
        self._seen = _snapshot(kb.directory)
        self._fingerprint = kb.current.training_fingerprint()
        self._training: asyncio.Task[None] | None = None
        self._train_again = False
        self.swapped = asyncio.Event()
        """Set after each successful model swap (tests and benchmarks wait on it)."""

    async def run(self) -> None:
        """Poll until cancelled; a failing check is logged and the loop goes on."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.check()
            except Exception:  # the watcher must outlive any one bad edit
                log.exception("knowledge base check failed")

    async def check(self) -> bool:
        """Reload if any file changed since the last look; True when something changed."""
        snapshot = _snapshot(self.kb.directory)
        if snapshot == self._seen:
            return False
        self._seen = snapshot
        errors = self.kb.reload()
        self.status.last_reload_at = datetime.now(UTC)
        self.status.errors = list(errors)
        self.status.entries = len(self.kb.current)
        self.counters.reloaded(ok=not errors)
        if errors:
            await self._notify(errors)
            return True
        fingerprint = self.kb.current.training_fingerprint()
        if fingerprint != self._fingerprint:
            self._fingerprint = fingerprint
            if await self._may_retrain():
                self._schedule_retrain()
        return True

    async def _may_retrain(self) -> bool:
        if self.may_retrain is None:
            return True
        try:
            allowed = await self.may_retrain()
        except Exception:  # e.g. the database is down: the model keeping catches up later
            log.exception("could not tell whether this worker may retrain; not retraining")
            return False
        if not allowed:
            log.info("questions changed; another worker retrains the shared model")
        return allowed

    async def _notify(self, errors: list[KbError]) -> None:
        for notify in list(self.notifiers):
            try:
                await notify(errors)
            except Exception:  # a Slack outage must not stop the watcher
                log.exception("knowledge base error notifier failed")

    def _schedule_retrain(self) -> None:
        if self.retrainer is None:
            log.warning("training data changed but no retrainer is configured (external NLU)")
            return
        if self._training is not None and not self._training.done():
            # Edits during a training run: train once more afterwards, on the latest files.
            self._train_again = True
            return
        self._training = asyncio.create_task(self._retrain_loop(), name="kb-retrain")

    async def _retrain_loop(self) -> None:
        assert self.retrainer is not None
        self.status.training = True
        try:
            while True:
                self._train_again = False
                started = time.monotonic()
                try:
                    model = await self.retrainer.retrain(self.kb, _log_progress)
                except Exception as exc:  # any failure keeps the old model live
                    self.status.training_error = str(exc)[:2000]
                    log.error("retraining failed; the previous model stays live: %s", exc)
                else:
                    self.status.training_error = None
                    self.status.model = model
                    self.status.last_swap_at = datetime.now(UTC)
                    self.swaps += 1
                    self.counters.swapped()
                    if self.on_swapped is not None:
                        self.on_swapped(model)
                    self.swapped.set()
                    log.info("model %s live after %.1fs", model.name, time.monotonic() - started)
                if not self._train_again:
                    return
        finally:
            self.status.training = False

    async def wait_idle(self) -> None:
        """Wait for a running retrain (and any queued after it) to finish."""
        while self._training is not None and not self._training.done():
            await asyncio.shield(self._training)

    async def stop(self) -> None:
        if self._training is not None:
            self._training.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._training


def _log_progress(line: str) -> None:
    log.info("retrain: %s", line)

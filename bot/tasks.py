"""The background work of one bot worker, run and stopped in one place.

A :class:`TaskSupervisor` holds two kinds of named jobs:

- a **periodic** job (:meth:`TaskSupervisor.every`) waits its period, runs once, and
  again: the handoff timeout sweep, the ticket SLA/close sweep, the outbox retry. A run
  that raises is logged and the next run comes one period later, so a database blip
  never ends the loop. Runs of one job never overlap; different jobs run concurrently.
- a **long-running** job (:meth:`TaskSupervisor.keep`) is a coroutine meant to run until
  cancelled: the knowledge-base watcher, the Slack desk's mirror. If it ends or raises, it
  is logged and started again after ``restart_after_s``.

:meth:`TaskSupervisor.stop` cancels every job, waits for each to finish, then calls the
jobs' ``on_stop`` hooks (end a running retrain, let Slack calls in flight finish).

Several workers: each worker runs its own supervisor with the same jobs. A job added
with ``once_per_cluster=True`` runs only on the cluster's leader (``leader``, an
``async () -> bool``, asked before each run; ``bot.cluster.leader``): the sweeps, the
outbox retry, the Slack desk's mirror, model training. When the leader dies another
worker leads within seconds and its next run does the work. The sweeps would even be
safe to overlap (they lock each row they change, check it again and move it with a
conditional update or a unique key, so a chat times out once and an SLA alert fires
once); running them once saves the work. The others run on every worker: the
knowledge-base reload (each worker's answers in memory), the relay of the desk's events,
the orphan sweep. ``docs/decisions.md`` (Operations) has the details.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Run = Callable[[], Awaitable[object]]
Stop = Callable[[], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]
Leader = Callable[[], Awaitable[bool]]

RESTART_AFTER_S = 5.0


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    run: Run
    every_s: float | None  # None: long-running
    on_stop: Stop | None
    once_per_cluster: bool = False


class TaskSupervisor:
    """Named periodic and long-running jobs; ``sleep`` is injectable for tests."""

    def __init__(
        self,
        *,
        sleep: Sleep = asyncio.sleep,
        restart_after_s: float = RESTART_AFTER_S,
        leader: Leader | None = None,
    ) -> None:
        self._sleep = sleep
        self.leader = leader
        """Whether this worker leads the cluster; None: one worker alone, it always does."""
        self._restart_after_s = restart_after_s
        self._jobs: list[Job] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = False

    @property
    def names(self) -> list[str]:
        """The jobs' names, in the order they were added."""
        return [job.name for job in self._jobs]

    def every(
        self,
        name: str,
        seconds: float,
        run: Run,
        *,
        on_stop: Stop | None = None,
        once_per_cluster: bool = False,
    ) -> None:
        """Run ``run()`` every ``seconds`` (the first run one period after start);
        ``once_per_cluster``: only while this worker leads."""
        if seconds <= 0:
            raise ValueError(f"job {name!r}: the period must be positive, not {seconds}")
        self._add(Job(name, run, seconds, on_stop, once_per_cluster))

    def keep(
        self, name: str, run: Run, *, on_stop: Stop | None = None, once_per_cluster: bool = False
    ) -> None:
        """Keep ``run()`` running until stop; restart it if it ends or raises.
        ``once_per_cluster``: it starts once this worker leads (and runs on if the lead is
        lost, until it ends: a long-running job is not cut mid-work)."""
        self._add(Job(name, run, None, on_stop, once_per_cluster))

    def start(self) -> None:
        """Start every job added so far; jobs added later start at once."""
        self._running = True
        for job in self._jobs:
            if job.name not in self._tasks:
                self._launch(job)

    async def stop(self) -> None:
        """Cancel every job and wait for it; then run the ``on_stop`` hooks, last added first."""
        self._running = False
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for job in reversed(self._jobs):
            if job.on_stop is None:
                continue
            try:
                await job.on_stop()
            except Exception:  # one job's clean-up must not skip the others'
                log.exception("stopping %s failed", job.name)

    def _add(self, job: Job) -> None:
        if job.name in self.names:
            raise ValueError(f"a job named {job.name!r} exists")
        self._jobs.append(job)
        if self._running:
            self._launch(job)

    def _launch(self, job: Job) -> None:
        loop = self._periodic(job) if job.every_s is not None else self._long_running(job)
        self._tasks[job.name] = asyncio.create_task(loop, name=job.name)

    async def _periodic(self, job: Job) -> None:
        assert job.every_s is not None
        while True:
            await self._sleep(job.every_s)
            try:
                if job.once_per_cluster and not await self._leads():
                    continue
                await job.run()
            except Exception:  # a database blip must not end the loop
                log.exception("%s failed; next run in %.0f s", job.name, job.every_s)

    async def _long_running(self, job: Job) -> None:
        while True:
            try:
                if job.once_per_cluster and not await self._leads():
                    await self._sleep(self._restart_after_s)
                    continue
                await job.run()
            except Exception:
                log.exception("%s failed; restarting in %.0f s", job.name, self._restart_after_s)
            else:
                log.warning("%s ended; restarting in %.0f s", job.name, self._restart_after_s)
            await self._sleep(self._restart_after_s)

    async def _leads(self) -> bool:
        return True if self.leader is None else await self.leader()

"""One leader per cluster: the worker that runs the periodic jobs.

Leadership is an advisory lock (:mod:`bot.cluster.locks`) that the leader takes once and
keeps for as long as its database session lives. Every other worker tries to take it
each time a once-per-cluster job is due (every ``cluster.leader_check_s`` at most), so
when the leader dies, and its session with it, another worker leads within a few
seconds. Jobs that must run once across the cluster (the sweeps, the outbox retry,
training) ask :meth:`Leadership.is_leader` before each run (``bot.tasks``).

A leader whose lock connection breaks stops leading until it takes the lock again; a
job run already under way finishes (the sweeps are safe to overlap: each row they
change is locked, checked and moved once, see ``docs/decisions.md``).
"""

from __future__ import annotations

import asyncio
import logging

from bot.cluster.locks import ClusterLocks

log = logging.getLogger(__name__)

LEADER_LOCK = "leader"


class Leadership:
    def __init__(self, locks: ClusterLocks, *, worker_id: str, check_every_s: float) -> None:
        self._locks = locks
        self.worker_id = worker_id
        self._check_every_s = check_every_s
        self._loop_time_checked = float("-inf")
        self._leading = False

    async def is_leader(self) -> bool:
        """Whether this worker leads now; takes the lead when it is free."""
        # alive() first: a broken connection is replaced there, and the locks it held are
        # forgotten, so holds() then answers for the session that is really open.
        if self._leading and await self._locks.alive() and self._locks.holds(LEADER_LOCK):
            return True
        loop = asyncio.get_running_loop()
        if self._leading or loop.time() - self._loop_time_checked >= self._check_every_s:
            self._loop_time_checked = loop.time()
            try:
                leading = await self._locks.try_take(LEADER_LOCK)
            except Exception:  # the database is away: nobody can lead through it now
                log.warning("could not check the leadership", exc_info=True)
                leading = False
            self._changed(leading)
        return self._leading

    async def step_down(self) -> None:
        """Give the lead away (a clean stop hands over at once, not at the next check)."""
        self._changed(False)
        await self._locks.release(LEADER_LOCK)

    def _changed(self, leading: bool) -> None:
        if leading != self._leading:
            log.info(
                "worker %s %s", self.worker_id, "leads the cluster" if leading else "stops leading"
            )
        self._leading = leading

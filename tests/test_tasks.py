"""The task supervisor: periodic jobs survive a failing run, long-running jobs are restarted,
and stop cancels everything. Time is a fake ``sleep`` the test releases, one tick at a time."""

from __future__ import annotations

import asyncio

import pytest

from bot.tasks import TaskSupervisor


class Ticks:
    """A ``sleep`` that waits until the test lets one sleeper go (and says for how long)."""

    def __init__(self) -> None:
        self._sleepers: asyncio.Queue[tuple[float, asyncio.Future[None]]] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._sleepers.put((seconds, done))
        await done

    async def tick(self) -> float:
        """Wake the next sleeper; returns the period it asked for."""
        seconds, done = await asyncio.wait_for(self._sleepers.get(), timeout=5)
        done.set_result(None)
        return seconds


class Runs:
    """A job that records its runs, fails on the runs it is told to, and says when it ran."""

    def __init__(self, *, fail_on: tuple[int, ...] = ()) -> None:
        self.count = 0
        self.fail_on = fail_on
        self.ran: asyncio.Queue[int] = asyncio.Queue()

    async def __call__(self) -> None:
        self.count += 1
        await self.ran.put(self.count)
        if self.count in self.fail_on:
            raise RuntimeError(f"run {self.count} failed")

    async def next(self) -> int:
        return await asyncio.wait_for(self.ran.get(), timeout=5)


async def test_a_periodic_job_waits_its_period_and_survives_a_failing_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks, sweep = Ticks(), Runs(fail_on=(1,))
    tasks = TaskSupervisor(sleep=ticks.sleep)
    tasks.every("sweep", 15, sweep)
    tasks.start()

    assert await ticks.tick() == 15  # nothing runs before the first period
    assert await sweep.next() == 1  # ... which raises
    assert await ticks.tick() == 15
    assert await sweep.next() == 2  # the loop went on
    await tasks.stop()

    assert sweep.count == 2
    failures = [r.getMessage() for r in caplog.records if r.name == "bot.tasks"]
    assert failures == ["sweep failed; next run in 15 s"]


async def test_a_long_running_job_is_restarted_after_it_fails() -> None:
    ticks, mirror = Ticks(), Runs(fail_on=(1,))
    tasks = TaskSupervisor(sleep=ticks.sleep, restart_after_s=2)
    tasks.keep("mirror", mirror)
    tasks.start()

    assert await mirror.next() == 1  # starts at once, then fails
    assert await ticks.tick() == 2
    assert await mirror.next() == 2
    await tasks.stop()


async def test_stop_cancels_running_jobs_then_runs_their_stop_hooks_last_added_first() -> None:
    ticks = Ticks()
    stopped: list[str] = []
    cancelled = asyncio.Event()
    entered = asyncio.Event()

    async def forever() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def stop_watch() -> None:
        stopped.append("watch")

    async def stop_mirror() -> None:
        assert cancelled.is_set()  # hooks run after every job has ended
        stopped.append("mirror")
        raise RuntimeError("a broken clean-up")  # must not skip the next hook

    tasks = TaskSupervisor(sleep=ticks.sleep)
    tasks.keep("watch", forever, on_stop=stop_watch)
    tasks.keep("mirror", forever, on_stop=stop_mirror)
    tasks.start()
    await entered.wait()
    await tasks.stop()

    assert stopped == ["mirror", "watch"]


async def test_a_job_added_while_running_starts_at_once_and_names_are_unique() -> None:
    ticks, retry = Ticks(), Runs()
    tasks = TaskSupervisor(sleep=ticks.sleep)
    tasks.start()
    tasks.every("outbox-retry", 5, retry)
    assert await ticks.tick() == 5
    assert await retry.next() == 1
    with pytest.raises(ValueError, match="exists"):
        tasks.every("outbox-retry", 5, retry)
    with pytest.raises(ValueError, match="positive"):
        tasks.every("never", 0, retry)
    assert tasks.names == ["outbox-retry"]
    await tasks.stop()


async def test_stop_before_start_and_twice_is_harmless() -> None:
    tasks = TaskSupervisor()
    tasks.every("sweep", 1, Runs())
    await tasks.stop()
    await tasks.stop()


async def test_a_once_per_cluster_job_runs_only_while_this_worker_leads() -> None:
    ticks, sweep = Ticks(), Runs()
    answers = iter([False, False, True, False])  # the leader check's answers, in turn

    async def leader() -> bool:
        return next(answers, False)

    tasks = TaskSupervisor(sleep=ticks.sleep, leader=leader)
    tasks.every("tickets", 15, sweep, once_per_cluster=True)
    tasks.start()
    assert await ticks.tick() == 15  # another worker leads: skipped
    assert await ticks.tick() == 15  # ... and the job waits for its next period
    await ticks.tick()  # the leader died; this worker took over
    assert await sweep.next() == 1
    await ticks.tick()  # lost the lead again: skipped
    assert await ticks.tick() == 15
    await tasks.stop()
    assert sweep.count == 1


async def test_a_once_per_cluster_long_running_job_starts_when_this_worker_leads() -> None:
    ticks, mirror = Ticks(), Runs()
    asked: list[bool] = []

    async def leader() -> bool:
        asked.append(len(asked) >= 2)  # leads from the third check on
        return asked[-1]

    tasks = TaskSupervisor(sleep=ticks.sleep, restart_after_s=2, leader=leader)
    tasks.keep("slack-desk", mirror, once_per_cluster=True)
    tasks.start()
    assert await ticks.tick() == 2
    assert await ticks.tick() == 2
    assert await mirror.next() == 1
    assert asked == [False, False, True]
    await tasks.stop()

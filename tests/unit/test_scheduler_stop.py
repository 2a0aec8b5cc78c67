"""Stopping the scheduler lets a running job finish instead of cancelling it."""

from __future__ import annotations

import asyncio
import logging

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.runtime import stop_scheduler


async def test_a_running_job_completes_before_the_scheduler_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Once «Job deliver_outbox raised CancelledError» at every stop mid-delivery: now the
    delivery in flight finishes (its sends and its commit), and no new run starts."""
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[str] = []

    async def deliver_outbox() -> None:
        runs.append("started")
        started.set()
        await release.wait()
        runs.append("finished")

    scheduler = AsyncIOScheduler()
    scheduler.add_job(deliver_outbox, "interval", seconds=0.05, id="outbox", max_instances=1)
    scheduler.start()
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(stop_scheduler(scheduler, grace=10))
    await asyncio.sleep(0)  # stop_scheduler pauses the scheduler and waits for the job
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, 10)
    assert runs == ["started", "finished"]
    assert not scheduler.running
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_stopping_a_scheduler_that_never_started_is_harmless() -> None:
    """A failed start (a refused token) must not end in SchedulerNotRunningError."""
    await stop_scheduler(AsyncIOScheduler())

"""Periodic jobs for workers: run a batch job again at once while it finds work, else wait; until stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

Job = Callable[[], Awaitable[int]]


async def run_periodically(
    name: str, job: Job, *, interval_seconds: float, stop: asyncio.Event, pause_seconds: float = 0
) -> None:
    """Runs `job` (which handles one batch and returns how many items it handled) again after
    `pause_seconds` while it finds work, and after `interval_seconds` when it found none. A failing run
    is logged and retried at the next interval."""
    log.info("periodic_job_started", job=name, interval_seconds=interval_seconds)
    while not stop.is_set():
        try:
            done = await job()
        except Exception as exc:  # database down, deadlock victim...: the next run retries
            log.warning("periodic_job_failed", job=name, error=f"{type(exc).__name__}: {exc}")
            done = 0
        wait = pause_seconds if done else interval_seconds
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
    log.info("periodic_job_stopped", job=name)

"""Runs one periodic job as a process: settings, logging, pool, the job loop, graceful stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from services.common import lifecycle
from services.common.clock import Clock, clock_from_file
from services.common.db import Pool, close_pool, create_pool
from services.common.logs import configure_logging
from services.common.metrics import JOB_ITEMS, JOB_RUNS, serve_metrics
from services.common.periodic import run_periodically
from services.common.settings import Settings
from services.common.tracing import configure_tracing

BatchJob = Callable[[Pool, Clock, int], Awaitable[int]]


def run_job(
    *,
    name: str,
    dsn: Callable[[Settings], str],
    job: BatchJob,
    batch_size: Callable[[Settings], int],
    interval_seconds: Callable[[Settings], float],
    pause_seconds: Callable[[Settings], float] = lambda _: 0.0,
) -> None:
    settings = Settings()
    configure_logging(name, settings.log_level)
    configure_tracing(name)
    serve_metrics(settings.metrics_port, settings.listen_host)
    clock = clock_from_file(settings.clock_file)
    items, ok, failed = JOB_ITEMS.labels(name), JOB_RUNS.labels(name, "ok"), JOB_RUNS.labels(name, "failed")

    async def counted(pool: Pool, size: int) -> int:
        try:
            done = await job(pool, clock, size)
        except Exception:
            failed.inc()
            raise  # run_periodically logs it and retries at the next interval
        ok.inc()
        items.inc(done)
        return done

    async def run(stop: asyncio.Event) -> None:
        pool = await create_pool(dsn(settings), min_size=1, max_size=2, idle_seconds=settings.db_pool_idle_seconds)
        size = batch_size(settings)
        try:
            await run_periodically(
                name,
                lambda: counted(pool, size),
                interval_seconds=interval_seconds(settings),
                pause_seconds=pause_seconds(settings),
                stop=stop,
            )
        finally:
            await close_pool(pool)

    lifecycle.run(run)

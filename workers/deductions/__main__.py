"""Entrusted deduction runs (R27): python -m workers.deductions runs them on a schedule
(MEDINS_DEDUCTION_INTERVAL_SECONDS); python -m workers.deductions --once runs one now and exits."""

from __future__ import annotations

import asyncio
import sys

from services.collection.deduction_setup import deduction_config, deduction_services
from services.collection.handlers.deductions import run_deductions
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock, clock_from_file
from services.common.db import Pool, create_pool
from services.common.logs import configure_logging
from services.common.settings import Settings
from services.common.tracing import configure_tracing
from workers.periodic_runner import BatchJob, run_job


def scheduled_run(settings: Settings) -> BatchJob:
    async def run(pool: Pool, clock: Clock, batch_size: int) -> int:
        await run_deductions(
            lambda: CollectionUnitOfWork(pool),
            clock,
            deduction_services(settings, clock),
            deduction_config(settings),
            batch_size,
        )
        return 0  # a run covers everything due; the next one waits for the schedule

    return run


async def run_once(settings: Settings) -> None:
    clock = clock_from_file(settings.clock_file)
    pool = await create_pool(
        settings.tax_dsn, min_size=1, max_size=2, attempts=5, idle_seconds=settings.db_pool_idle_seconds
    )
    try:
        await run_deductions(
            lambda: CollectionUnitOfWork(pool), clock, deduction_services(settings, clock), deduction_config(settings)
        )
    finally:
        await pool.close()


if __name__ == "__main__":
    settings = Settings()
    if "--once" in sys.argv[1:]:
        configure_logging("deductions", settings.log_level)
        configure_tracing("deductions")
        asyncio.run(run_once(settings))
    else:
        run_job(
            name="deductions",
            dsn=lambda s: s.tax_dsn,
            job=scheduled_run(settings),
            batch_size=lambda s: 100,
            interval_seconds=lambda s: s.deduction_interval_seconds,
        )

"""Unpaid reminder rounds before a window closes (R29): python -m workers.reminders."""

from __future__ import annotations

from services.collection.deduction_setup import notifier_from
from services.collection.handlers.reminders import remind
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.db import Pool
from services.common.settings import Settings
from workers.periodic_runner import BatchJob, run_job


def reminder_step(settings: Settings) -> BatchJob:
    notifier = notifier_from(settings)

    async def step(pool: Pool, clock: Clock, batch_size: int) -> int:
        return await remind(
            lambda: CollectionUnitOfWork(pool), clock, notifier, settings.reminder_days_before, batch_size
        )

    return step


if __name__ == "__main__":
    run_job(
        name="reminders",
        dsn=lambda s: s.tax_dsn,
        job=reminder_step(Settings()),
        batch_size=lambda s: s.reminder_batch_size,
        interval_seconds=lambda s: s.worker_interval_seconds,
    )

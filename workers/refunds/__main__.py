"""Submits pending refunds to their channels and retries failed ones (R23): python -m workers.refunds."""

from services.collection.handlers.refunds import SimulatedRefundGateway, submit_due_refunds
from services.common.clock import Clock
from services.common.db import Pool
from workers.periodic_runner import run_job

GATEWAY = SimulatedRefundGateway()


async def submit(pool: Pool, clock: Clock, batch_size: int) -> int:
    return await submit_due_refunds(pool, clock, batch_size, GATEWAY)


if __name__ == "__main__":
    run_job(
        name="refunds",
        dsn=lambda s: s.tax_dsn,
        job=submit,
        batch_size=lambda s: 100,
        interval_seconds=lambda s: s.worker_interval_seconds,
    )

"""Expires pending orders past their time (R19): python -m workers.order_expiry."""

from services.collection.metrics import ORDERS_EXPIRED
from services.collection.order_expiry import expire_due_orders
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.db import Pool
from workers.periodic_runner import run_job


async def expire(pool: Pool, clock: Clock, batch_size: int) -> int:
    expired = await expire_due_orders(lambda: CollectionUnitOfWork(pool), clock, batch_size)
    ORDERS_EXPIRED.inc(expired)
    return expired


if __name__ == "__main__":
    run_job(
        name="order-expiry",
        dsn=lambda s: s.tax_dsn,
        job=expire,
        batch_size=lambda s: 500,
        interval_seconds=lambda s: s.order_expiry_interval_seconds,
    )

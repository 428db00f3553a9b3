"""Order expiry (R19): a pending order not paid within its time expires and frees its items.

Creating an order already frees items whose order is past expiry, so correctness never waits for
this worker; it keeps order statuses true for people who look at them."""

from __future__ import annotations

import structlog

from services.collection.ports import UowFactory
from services.common.clock import Clock

log = structlog.get_logger(__name__)


async def expire_due_orders(uow_factory: UowFactory, clock: Clock, batch_size: int) -> int:
    async with uow_factory() as uow:
        expired = await uow.orders.expire_overdue(clock.now(), batch_size)
        await uow.commit()
    if expired:
        log.info("orders_expired", count=len(expired))
    return len(expired)

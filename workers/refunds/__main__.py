"""Submits pending refunds to their channels and retries failed ones (R23): python -m workers.refunds."""

from services.collection.domain.model import Refund
from services.collection.handlers.refunds import RefundGateway, SimulatedRefundGateway, submit_due_refunds
from services.collection.metrics import REFUNDS
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.db import Pool
from workers.periodic_runner import run_job


class CountedGateway:
    """A refund gateway whose calls count in medins_refunds_total by channel and outcome. A family
    mutual-aid refund goes back to its account without a channel call, and so is not counted here."""

    def __init__(self, gateway: RefundGateway) -> None:
        self._gateway = gateway

    async def submit(self, refund: Refund) -> str:
        try:
            channel_refund_id = await self._gateway.submit(refund)
        except Exception:
            REFUNDS.labels(refund.channel.value, "failed").inc()
            raise
        REFUNDS.labels(refund.channel.value, "submitted").inc()
        return channel_refund_id


GATEWAY = CountedGateway(SimulatedRefundGateway())


async def submit(pool: Pool, clock: Clock, batch_size: int) -> int:
    return await submit_due_refunds(lambda: CollectionUnitOfWork(pool), clock, batch_size, GATEWAY)


if __name__ == "__main__":
    run_job(
        name="refunds",
        dsn=lambda s: s.tax_dsn,
        job=submit,
        batch_size=lambda s: 100,
        interval_seconds=lambda s: s.worker_interval_seconds,
    )

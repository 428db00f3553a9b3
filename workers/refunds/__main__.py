"""Submits pending refunds to their channels and retries failed ones (R23): python -m workers.refunds."""

from services.collection.domain.model import Refund
from services.collection.gateways.channel_apis.setup import ChannelApiSettings, configured_apis
from services.collection.gateways.channel_refunds import ChannelRefundGateway
from services.collection.handlers.refund_results import settle_submitted_refunds
from services.collection.handlers.refunds import (
    RefundGateway,
    SimulatedRefundGateway,
    submit_due_refunds,
)
from services.collection.metrics import REFUNDS
from services.collection.refund_targets_repository import refund_request
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.db import Pool
from services.common.settings import load_settings
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


class Job:
    """Refunds go through the channels' refund APIs when MEDINS_CHANNEL_API_* configures them (their
    results read back by refund query), else through the local stand-in (results by NotifyRefundResult)."""

    def __init__(self) -> None:
        self.gateway: RefundGateway | None = None
        self.results: ChannelRefundGateway | None = None

    async def __call__(self, pool: Pool, clock: Clock, batch_size: int) -> int:
        if self.gateway is None:
            apis = configured_apis(ChannelApiSettings(), load_settings(), clock)
            if apis:
                self.results = ChannelRefundGateway(apis, lambda refund: refund_request(pool, refund))
            self.gateway = CountedGateway(self.results or SimulatedRefundGateway())
        submitted = await submit_due_refunds(lambda: CollectionUnitOfWork(pool), clock, batch_size, self.gateway)
        if self.results is not None:
            submitted += await settle_submitted_refunds(
                lambda: CollectionUnitOfWork(pool), clock, batch_size, self.results
            )
        return submitted


if __name__ == "__main__":
    run_job(
        name="refunds",
        dsn=lambda s: s.tax_dsn,
        job=Job(),
        batch_size=lambda s: 100,
        interval_seconds=lambda s: s.worker_interval_seconds,
    )

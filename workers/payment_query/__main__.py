"""Asks the channels about orders whose notification may be lost and closes expired ones there (R43):
python -m workers.payment_query.

The channels are MEDINS_CHANNEL_API_* (gateways/channel_apis/setup.py: key directories and base URLs);
how it asks is MEDINS_PAYMENT_QUERY_* (PaymentQuerySettings). With no channel configured the worker asks
nobody (and says so at start)."""

from __future__ import annotations

import datetime as dt

import structlog
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.collection.gateways.channel_apis.ports import ChannelApi
from services.collection.gateways.channel_apis.setup import ChannelApiSettings, configured_apis
from services.collection.payment_query import QueryConfig, query_due_orders
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.db import Pool
from services.common.settings import Settings, load_settings
from workers.periodic_runner import run_job

log = structlog.get_logger(__name__)


class PaymentQuerySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDINS_PAYMENT_QUERY_", frozen=True)

    # Pending orders are asked on a back-off (domain/payment_queries.py) and once more this long before
    # their expiry, whatever the back-off says.
    near_expiry_seconds: float = 30.0
    # Expired orders (and refused callbacks) are asked about and closed for this long: channels retry
    # for 24-25 h, and records are kept at least 48 h (R43).
    lookback_hours: float = 48.0
    interval_seconds: float = 5.0
    batch_size: int = 200


class Job:
    def __init__(self, settings: PaymentQuerySettings, skew: dt.timedelta) -> None:
        self.settings = settings
        self.config = QueryConfig(
            dt.timedelta(seconds=settings.near_expiry_seconds), dt.timedelta(hours=settings.lookback_hours), skew
        )
        self.apis: list[ChannelApi] | None = None

    def _apis(self, clock: Clock) -> list[ChannelApi]:
        if self.apis is None:
            process = load_settings()
            self.apis = configured_apis(ChannelApiSettings(), process, clock)
            channels = sorted(c for a in self.apis for c in a.channels)
            if not channels and process.environment == "production":
                # Not fatal (a province may plug its channels in after the rest is up), but loud: until
                # then a payment whose notification is lost is found by nobody (R43).
                log.error("payment_query_no_channels", hint="set MEDINS_CHANNEL_API_* (docs/DEPLOY.md)")
            else:
                log.info("payment_query_channels", channels=channels)
        return self.apis

    async def __call__(self, pool: Pool, clock: Clock, batch_size: int) -> int:
        apis = self._apis(clock)
        if not apis:
            return 0
        tally = await query_due_orders(lambda: CollectionUnitOfWork(pool), clock, apis, self.config, batch_size)
        return tally.asked


if __name__ == "__main__":
    settings = PaymentQuerySettings()
    job = Job(settings, dt.timedelta(seconds=Settings().payment_clock_skew_seconds))
    run_job(
        name="payment-query",
        dsn=lambda s: s.tax_dsn,
        job=job,
        batch_size=lambda s: settings.batch_size,
        interval_seconds=lambda s: settings.interval_seconds,
    )

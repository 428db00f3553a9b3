"""Asks the channels about orders whose notification may be lost and closes expired ones there (R43):
python -m workers.payment_query.

Configured by MEDINS_PAYMENT_QUERY_* (PaymentQuerySettings): the channels' verification keys
(channels/keys.py layout), our merchant keys (gateways/channel_apis/merchant_keys.py layout) and each
family's base URL. With no channel configured the worker asks nobody (and says so at start)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import structlog
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.collection.channels.keys import KeyStore
from services.collection.gateways.channel_apis.http import Transport
from services.collection.gateways.channel_apis.ports import ChannelApi
from services.collection.gateways.channel_apis.setup import ChannelApiUrls, channel_apis
from services.collection.payment_query import QueryConfig, query_due_orders
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.db import Pool
from services.common.settings import Settings
from workers.periodic_runner import run_job

log = structlog.get_logger(__name__)


class PaymentQuerySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDINS_PAYMENT_QUERY_", frozen=True)

    channel_keys_dir: str = ""
    merchant_keys_dir: str = ""
    wechat_url: str = ""
    alipay_url: str = ""
    unionpay_url: str = ""
    # Pending orders are asked about from this long before their expiry on.
    near_expiry_seconds: float = 30.0
    # Expired orders (and refused callbacks) are asked about and closed for this long: channels retry
    # for 24-25 h, and records are kept at least 48 h (R43).
    lookback_hours: float = 48.0
    interval_seconds: float = 5.0
    batch_size: int = 200
    timeout_seconds: float = 10.0


class Job:
    def __init__(self, settings: PaymentQuerySettings, skew: dt.timedelta) -> None:
        self.settings = settings
        self.config = QueryConfig(
            dt.timedelta(seconds=settings.near_expiry_seconds), dt.timedelta(hours=settings.lookback_hours), skew
        )
        self.apis: list[ChannelApi] | None = None

    def _apis(self, clock: Clock) -> list[ChannelApi]:
        if self.apis is None:
            s = self.settings
            if s.channel_keys_dir and s.merchant_keys_dir:
                urls = ChannelApiUrls(s.wechat_url, s.alipay_url, s.unionpay_url)
                keys = KeyStore.from_directory(Path(s.channel_keys_dir))
                self.apis = channel_apis(keys, Path(s.merchant_keys_dir), urls, clock, Transport(s.timeout_seconds))
            else:
                self.apis = []
            log.info("payment_query_channels", channels=sorted(c for a in self.apis for c in a.channels))
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

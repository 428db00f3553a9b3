"""The outbox relay of one agency database, with its housekeeping (python -m workers.outbox_relay insurance|tax)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt

from services.common import lifecycle
from services.common.db import Pool, close_pool, create_pool
from services.common.housekeeping import purge_expired
from services.common.lifecycle import run_until_stopped
from services.common.logs import configure_logging
from services.common.messaging.relay import OutboxRelay
from services.common.metrics import serve_metrics
from services.common.periodic import run_periodically
from services.common.settings import Settings
from services.common.tracing import configure_tracing

HOUSEKEEPING_INTERVAL_SECONDS = 600


async def housekeeping(pool: Pool, settings: Settings, stop: asyncio.Event) -> None:
    async def purge() -> int:
        await purge_expired(
            pool,
            idempotency_retention=dt.timedelta(hours=settings.idempotency_retention_hours),
            outbox_retention=dt.timedelta(hours=settings.outbox_retention_hours),
        )
        return 0  # nothing to hurry for: wait the full interval

    await run_periodically("housekeeping", purge, interval_seconds=HOUSEKEEPING_INTERVAL_SECONDS, stop=stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database", choices=["insurance", "tax"])
    args = parser.parse_args()
    settings = Settings()
    configure_logging(f"outbox-relay-{args.database}", settings.log_level)
    configure_tracing(f"outbox-relay-{args.database}")
    serve_metrics(settings.metrics_port, settings.listen_host)
    dsn = settings.insurance_dsn if args.database == "insurance" else settings.tax_dsn

    async def run(stop: asyncio.Event) -> None:
        pool = await create_pool(dsn, min_size=1, max_size=3, idle_seconds=settings.db_pool_idle_seconds)
        relay = OutboxRelay(pool, settings.broker_urls, settings.retry_delays_ms, database=args.database)
        loops = [relay.run, lambda s: housekeeping(pool, settings, s)]
        if settings.metrics_port:
            loops.append(lambda s: relay.sample_backlog(s, settings.metrics_sample_seconds))
        try:
            await run_until_stopped(stop, *loops)
        finally:
            await close_pool(pool)

    lifecycle.run(run)


if __name__ == "__main__":
    main()

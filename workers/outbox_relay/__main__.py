"""The outbox relay of one agency database (python -m workers.outbox_relay insurance|tax)."""

from __future__ import annotations

import argparse
import asyncio

from services.common import lifecycle
from services.common.db import create_pool
from services.common.logs import configure_logging
from services.common.messaging.relay import OutboxRelay
from services.common.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database", choices=["insurance", "tax"])
    args = parser.parse_args()
    settings = Settings()
    configure_logging(f"outbox-relay-{args.database}", settings.log_level)
    dsn = settings.insurance_dsn if args.database == "insurance" else settings.tax_dsn

    async def run(stop: asyncio.Event) -> None:
        pool = await create_pool(dsn, min_size=1, max_size=3)
        try:
            await OutboxRelay(pool, settings.amqp_url, settings.retry_delays_ms).run(stop)
        finally:
            await pool.close()

    lifecycle.run(run)


if __name__ == "__main__":
    main()

"""Creates and migrates both databases, declares the RabbitMQ topology and loads the demo policies.
Safe to run any number of times (python -m ops.setup [--no-demo])."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt

import structlog

from ops import demo_data
from services.common.clock import clock_from_file
from services.common.db import create_pool
from services.common.logs import configure_logging
from services.common.messaging.broker import connect_broker
from services.common.messaging.topology import declare_topology
from services.common.migrations import ensure_database, migrate_database
from services.common.settings import Settings
from services.registration.handlers import administration as handlers
from services.registration.unit_of_work import RegistrationUnitOfWork

log = structlog.get_logger(__name__)


async def prepare_databases(settings: Settings) -> None:
    for agency, name in (("insurance", settings.insurance_db), ("tax", settings.tax_db)):
        if await ensure_database(settings.admin_dsn, name):
            log.info("database_created", database=name)
        await migrate_database(settings.dsn(name), agency)


async def prepare_broker(settings: Settings) -> None:
    connection = await connect_broker(settings.broker_urls, attempts=20)
    try:
        channel = await connection.channel()
        await declare_topology(channel, settings.retry_delays_ms)
    finally:
        await connection.close()


async def load_demo_data(settings: Settings, today: dt.date | None = None) -> None:
    """The demo regions, schools and policies, placed around `today` (default: today on the settings'
    clock, MEDINS_CLOCK_FILE or the system's), so the README's flow works on the day it is run."""
    clock = clock_from_file(settings.clock_file)
    policies = demo_data.policies(today or clock.now().date())
    pool = await create_pool(settings.insurance_dsn, min_size=1, max_size=1, attempts=20)
    try:
        async with RegistrationUnitOfWork(pool) as uow:
            for region in demo_data.REGIONS:
                await handlers.create_region(region, uow, clock)
            for school in demo_data.SCHOOLS:
                await handlers.create_school(school, uow, clock)
            for policy in policies:
                await handlers.set_region_policy(policy, uow, clock)
            await uow.commit()
    finally:
        await pool.close()
    years = sorted({p.insurance_year for p in policies if p.demo_data})
    log.info("demo_data_loaded", regions=len(demo_data.REGIONS), policies=len(policies), placed_years=years)


async def setup(settings: Settings, *, demo: bool) -> None:
    await prepare_databases(settings)
    await prepare_broker(settings)
    if demo:
        await load_demo_data(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-demo", action="store_true", help="do not load the demo regions and policies")
    args = parser.parse_args()
    settings = Settings()
    configure_logging("setup", settings.log_level)
    asyncio.run(setup(settings, demo=not args.no_demo))


if __name__ == "__main__":
    main()

"""Migrates one agency's database (python -m ops.migrate insurance|tax).

On Kubernetes each agency has its own PostgreSQL cluster, so MEDINS_PG_HOST names one agency's server
and a migration Job runs per agency; ops.setup (compose, make run) migrates both on one server. The
migration runner holds an advisory lock, so a Job racing a second one cannot apply a file twice. A
database that is not up yet fails the run; the Job's backoffLimit retries it.
"""

from __future__ import annotations

import argparse
import asyncio

import structlog

from services.common.logs import configure_logging
from services.common.migrations import migrate_database
from services.common.settings import Settings

log = structlog.get_logger(__name__)

AGENCIES = ("insurance", "tax")


def database_of(settings: Settings, agency: str) -> str:
    """The database name of an agency."""
    return settings.insurance_db if agency == "insurance" else settings.tax_db


async def migrate(settings: Settings, agency: str) -> None:
    dsn = settings.dsn(database_of(settings, agency))
    applied = await migrate_database(dsn, agency)
    log.info("migrated", agency=agency, database=database_of(settings, agency), applied=len(applied))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("agency", choices=AGENCIES)
    args = parser.parse_args()
    settings = Settings()
    configure_logging("migrate", settings.log_level)
    asyncio.run(migrate(settings, args.agency))


if __name__ == "__main__":
    main()

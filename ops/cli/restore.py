"""Both agencies' databases back to one instant, and the system made to converge again (issue 24).

    medins restore --to 2026-12-03T14:00:00 [--pitr-dir .make/pitr --pitr-port 5470]
    medins restore --to 2026-12-03T14:00:00 --databases-restored     (CloudNativePG restored them)

Stop every process of both agencies first; start them again afterwards. The command:
1. restores the local PostgreSQL server of ops/pitr.py (both agencies' databases) to TIME, unless
   --databases-restored says each agency's cluster was already recovered to TIME;
2. empties the event queues and their retry tiers: what they hold was sent by a state the restore
   undid, or will be sent again (the dead-letter queues are kept for the operator);
3. marks for sending again every outbox row published in the --replay-window before TIME, in both
   databases: an event published shortly before TIME may have been consumed only after it, and that
   effect was undone on the other side. Consumers drop what their inbox (restored too) already holds.

After TIME nothing exists any more on either side: payments the channels took after TIME come back
through the channels' own records, the order query (R43) and the reconciliation import (R30).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from ops.cli.errors import CliError
from ops.pitr import DEFAULT_DIR, DEFAULT_PORT, Instance, PitrError, parse_instant
from services.common.messaging.broker import connect_broker
from services.common.messaging.topology import CONSUMER_QUEUES
from services.common.settings import Settings, load_settings

DEFAULT_REPLAY_WINDOW_MINUTES = 60


@dataclass(frozen=True)
class Converged:
    purged_messages: int
    republished: dict[str, int]  # agency → outbox rows to publish again


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", required=True, help="the instant, ISO 8601 (China Standard Time without an offset)")
    parser.add_argument("--pitr-dir", type=Path, default=DEFAULT_DIR, help="the local server of ops.pitr")
    parser.add_argument("--pitr-port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--databases-restored", action="store_true", help="the databases are already at TIME: only converge"
    )
    parser.add_argument(
        "--replay-window",
        type=int,
        default=DEFAULT_REPLAY_WINDOW_MINUTES,
        metavar="MINUTES",
        help="outbox rows published this long before TIME are sent again (longer than any consumer lag)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        instant = parse_instant(args.to)
        if args.replay_window < 0:
            raise CliError("--replay-window must be zero or more minutes")
        if not args.databases_restored:
            Instance(args.pitr_dir, args.pitr_port).restore(instant)
    except PitrError as error:
        raise CliError(str(error)) from None
    done = asyncio.run(converge(load_settings(), instant, dt.timedelta(minutes=args.replay_window)))
    print(f"restore: {done.purged_messages} queued event(s) from after the restore point removed")
    for agency, rows in done.republished.items():
        print(f"restore: {agency}: {rows} outbox row(s) will be published again")
    print("restore: start the processes again; `medins audit` is clean once they have caught up")
    return 0


async def converge(settings: Settings, instant: dt.datetime, window: dt.timedelta) -> Converged:
    """Steps 2 and 3 of the module's description, against the databases and broker of `settings`."""
    purged = await purge_event_queues(settings)
    republished = {}
    for agency, dsn in (("insurance", settings.insurance_dsn), ("tax", settings.tax_dsn)):
        conn = await asyncpg.connect(dsn)
        try:
            status = await conn.execute(
                "UPDATE outbox SET published_at = NULL WHERE published_at >= $1", instant - window
            )
        finally:
            await conn.close()
        republished[agency] = int(status.split()[-1])
    return Converged(purged, republished)


async def purge_event_queues(settings: Settings) -> int:
    connection = await connect_broker(settings.broker_urls[0], attempts=3)
    try:
        channel = await connection.channel()
        purged = 0
        for queue in CONSUMER_QUEUES:
            for name in (queue.name, *(queue.retry_queue(delay) for delay in settings.retry_delays_ms)):
                declared = await channel.declare_queue(name, passive=True, robust=False)
                purged += int((await declared.purge()).message_count or 0)
        return purged
    finally:
        await connection.close()

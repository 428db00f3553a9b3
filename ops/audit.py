"""`medins audit`: checks the cross-agency invariants over both databases and the broker, read-only.

Reads the tax and insurance databases (DSNs from Settings, i.e. MEDINS_* variables) in one
REPEATABLE READ READ ONLY transaction each, and the dead-letter queues by passive declares and a peek
that returns every message to its queue. Prints one row per check (see ops/audit_checks.py for what
each one counts) and exits 1 on any violation, 0 when clean, 2 when a database or the broker cannot be
reached. The two databases are read one after the other, so an audit taken while events are in flight
may show what is merely not there yet; run it again, or on a quiet system, before acting on it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

import aio_pika
import asyncpg
from medins.events.v1 import events_pb2

from ops import audit_checks as checks
from ops import audit_waits
from services.common.clock import clock_from_file
from services.common.db import init_connection
from services.common.messaging.dead_letters import peek
from services.common.messaging.topology import CONSUMER_QUEUES, UNROUTED_QUEUE
from services.common.periods import cst_date
from services.common.settings import Settings
from services.registration.domain.coverage import person_history
from services.registration.domain.model import Enrollment
from services.registration.enrollments_repository import ENROLLMENT_COLUMNS, EnrollmentsRepository
from services.registration.external_repository import ExternalRepository
from services.registration.regions_repository import RegionsRepository
from services.registration.repairs_repository import RepairsRepository

EXIT_CLEAN, EXIT_VIOLATIONS, EXIT_UNREACHABLE = 0, 1, 2
CONNECT_TIMEOUT_SECONDS = 10.0
# How long to keep trying a database or the broker before saying it is unreachable: long enough to ride
# out a restart, short enough for an operator waiting at a prompt.
CONNECT_PATIENCE_SECONDS = 20.0
EXAMPLES = 3
DEAD_LETTERS_LISTED = 1000


class Unreachable(Exception):
    """A database or the broker could not be reached: the audit says which and stops."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--outbox-threshold",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="an outbox row unpublished for longer than this is a violation (default 60)",
    )
    parser.add_argument(
        "--allow-dlq",
        action="store_true",
        help="accept parked messages that carry a reason (each is still listed)",
    )
    parser.add_argument("--examples", type=int, default=EXAMPLES, help="examples shown per check (default 3)")


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Runs the audit for the `audit` subcommand; returns the exit status."""
    # aio-pika logs each failed connection attempt itself; the audit says what matters once.
    logging.getLogger("aio_pika").setLevel(logging.CRITICAL)
    logging.getLogger("aiormq").setLevel(logging.CRITICAL)
    settings = Settings()
    try:
        snapshot = asyncio.run(read_snapshot(settings))
        waits = asyncio.run(_read_waits(settings))
    except Unreachable as exc:
        print(f"medins audit: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    results = checks.run_checks(
        snapshot, outbox_threshold_seconds=args.outbox_threshold, allow_explained_dead_letters=args.allow_dlq
    )
    results.append(audit_waits.check_grant_starts(waits))
    print_table(results, args.examples, out)
    if args.allow_dlq:
        for letter in snapshot.dead_letters:
            print(f"parked: {letter.queue} {letter.message_id} {letter.event_type}: {letter.reason}", file=out)
    return EXIT_VIOLATIONS if any(r.violations for r in results) else EXIT_CLEAN


def print_table(results: Sequence[checks.CheckResult], examples: int, out: TextIO) -> None:
    width = max(len(r.name) for r in results)
    print(f"{'check':<{width}}  violations  first examples", file=out)
    for r in results:
        shown = "; ".join(r.violations[:examples]) if r.violations else "-"
        print(f"{r.name:<{width}}  {len(r.violations):>10}  {shown}", file=out)
    total = sum(len(r.violations) for r in results)
    print("audit clean" if total == 0 else f"audit found {total} violation(s)", file=out)


async def read_snapshot(settings: Settings) -> checks.Snapshot:
    tax = await _connect("tax", settings.tax_dsn)
    try:
        insurance = await _connect("insurance", settings.insurance_dsn)
        try:
            tax_rows = await _read_tax(tax)
            insurance_rows = await _read_insurance(insurance)
            stale = await _stale_outbox(tax, "tax") + await _stale_outbox(insurance, "insurance")
        finally:
            await insurance.close()
    finally:
        await tax.close()
    dead_letters = await _read_dead_letters(settings.broker_urls)
    return checks.Snapshot(**tax_rows, **insurance_rows, stale_outbox=stale, dead_letters=dead_letters)  # type: ignore[arg-type]


async def _connect(agency: str, dsn: str) -> asyncpg.Connection:
    deadline = time.monotonic() + CONNECT_PATIENCE_SECONDS
    while True:
        try:
            return await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_SECONDS)
        except asyncpg.InvalidCatalogNameError as exc:  # no such database: waiting will not help
            raise Unreachable(f"cannot reach the {agency} database at {_where(dsn)}: {exc}") from exc
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            if time.monotonic() > deadline:
                raise Unreachable(
                    f"cannot reach the {agency} database at {_where(dsn)}: {type(exc).__name__}: {exc}"
                ) from exc
        await asyncio.sleep(1.0)


def _where(dsn: str) -> str:
    return dsn.rsplit("@", 1)[-1]  # host, port and database; never the credentials


async def _stale_outbox(conn: asyncpg.Connection, agency: str) -> list[checks.StaleOutboxRow]:
    rows = await conn.fetch(
        """SELECT id, event_type, extract(epoch FROM now() - created_at)::float8 AS age
           FROM outbox WHERE published_at IS NULL ORDER BY id"""
    )
    return [checks.StaleOutboxRow(agency, r["id"], r["event_type"], r["age"]) for r in rows]


async def _read_tax(conn: asyncpg.Connection) -> dict[str, object]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        payments = [
            checks.Payment(
                str(r["payment_id"]),
                r["channel"],
                r["outcome"],
                r["amount_fen"],
                cst_date(r["paid_at"]),
                r["reversed_at"] is not None,
            )
            for r in await conn.fetch(
                "SELECT payment_id, channel, outcome, amount_fen, paid_at, reversed_at FROM payments"
            )
        ]
        payment_items = [
            checks.PaymentItem(str(r["payment_id"]), str(r["enrollment_id"]), r["insurance_year"], r["fee_type"])
            for r in await conn.fetch(
                """SELECT pi.payment_id, i.enrollment_id, i.insurance_year, i.fee_type
                   FROM payment_items pi JOIN payable_items i USING (payable_item_id)"""
            )
        ]
        receipts = [
            checks.Receipt(str(r["payment_id"]), r["reversed_at"] is not None)
            for r in await conn.fetch("SELECT payment_id, reversed_at FROM receipts")
        ]
        refunds = [
            checks.Refund(str(r["refund_id"]), str(r["payment_id"]), r["status"], r["amount_fen"])
            for r in await conn.fetch("SELECT refund_id, payment_id, status, amount_fen FROM refunds")
        ]
        confirmed: Counter[str] = Counter(
            events_pb2.EventEnvelope.FromString(r["envelope"]).payment_confirmed.payment_id
            for r in await conn.fetch("SELECT envelope FROM outbox WHERE event_type = 'payment.confirmed'")
        )
        payable_items = [
            checks.PayableItem(
                str(r["payable_item_id"]),
                str(r["enrollment_id"]),
                r["insurance_year"],
                r["fee_type"],
                r["status"],
                r["amount_fen"],
                str(r["paid_by_payment_id"]) if r["paid_by_payment_id"] else None,
            )
            for r in await conn.fetch(
                """SELECT payable_item_id, enrollment_id, insurance_year, fee_type, status, amount_fen,
                          paid_by_payment_id FROM payable_items"""
            )
        ]
        family_accounts = [
            checks.FamilyAccount(r["holder_id_number"], r["balance_fen"])
            for r in await conn.fetch("SELECT holder_id_number, balance_fen FROM family_accounts")
        ]
        ledger = [
            checks.LedgerEntry(
                r["entry_id"],
                r["holder_id_number"],
                r["kind"],
                r["amount_fen"],
                r["balance_after_fen"],
                str(r["payment_id"]) if r["payment_id"] else None,
                str(r["refund_id"]) if r["refund_id"] else None,
            )
            for r in await conn.fetch(
                """SELECT entry_id, holder_id_number, kind, amount_fen, balance_after_fen, payment_id, refund_id
                   FROM family_account_entries"""
            )
        ]
    return {
        "payments": payments,
        "payment_items": payment_items,
        "receipts": receipts,
        "refunds": refunds,
        "confirmed": confirmed,
        "payable_items": payable_items,
        "family_accounts": family_accounts,
        "ledger": ledger,
    }


async def _read_insurance(conn: asyncpg.Connection) -> dict[str, object]:
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        grants = [
            checks.Grant(r["payment_id"], str(r["enrollment_id"]), r["insurance_year"], r["kind"])
            for r in await conn.fetch("SELECT payment_id, enrollment_id, insurance_year, kind FROM coverage_grants")
        ]
        refused = {r["payment_id"] for r in await conn.fetch("SELECT DISTINCT payment_id FROM coverage_refusals")}
        # Years of enrollments never approved owe nothing yet (R7): nothing is payable before approval.
        years = [
            checks.EnrollmentYear(str(r["enrollment_id"]), r["insurance_year"], r["status"], r["paid_by_payment_id"])
            for r in await conn.fetch(
                """SELECT y.enrollment_id, y.insurance_year, y.status, y.paid_by_payment_id
                   FROM enrollment_years y JOIN enrollments e USING (enrollment_id)
                   WHERE e.state NOT IN ('PENDING_REVIEW', 'REJECTED')"""
            )
        ]
    return {"grants": grants, "refused_payments": refused, "enrollment_years": years}


async def _read_waits(settings: Settings) -> audit_waits.WaitSnapshot:
    insurance = await _connect("insurance", settings.insurance_dsn)
    await init_connection(insurance)  # the policies' long-term terms are jsonb, read as values
    try:
        return await read_waits(insurance, cst_date(clock_from_file(settings.clock_file).now()))
    finally:
        await insurance.close()


async def read_waits(conn: asyncpg.Connection, today: dt.date) -> audit_waits.WaitSnapshot:
    """The persons with a year covered under the long-term mechanism, as the domain sees them (R37)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        enrollments = EnrollmentsRepository(conn)
        numbers = [
            r["resident_id_number"]
            for r in await conn.fetch(
                """SELECT DISTINCT e.resident_id_number FROM enrollments e JOIN enrollment_years y USING (enrollment_id)
                   WHERE y.paid_on IS NOT NULL AND y.wait_free_until IS NOT NULL"""
            )
        ]
        rows = await conn.fetch(
            f"SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE resident_id_number = ANY($1::text[])", numbers
        )
        held: dict[str, list[Enrollment]] = {}
        for enrollment in await enrollments.with_details(rows):
            held.setdefault(enrollment.resident_id_number, []).append(enrollment)
        external = await ExternalRepository(conn).all_of_many(numbers)
        repaired = await RepairsRepository(conn).years_of_many(numbers)
        people = [person_history(held.get(n, []), external.get(n, []), repaired.get(n, set()), today) for n in numbers]
        keys = [
            (e.region_code, y.insurance_year, y.policy_version) for p in people for e in p.enrollments for y in e.years
        ]
        rules = await RegionsRepository(conn).long_term_of(keys)
        withdrawn = {
            r["resident_id_number"]
            for r in await conn.fetch(
                """SELECT DISTINCT e.resident_id_number FROM coverage_grants g JOIN enrollments e USING (enrollment_id)
                   WHERE g.kind = 'WITHDRAWAL'"""
            )
        }
    return audit_waits.WaitSnapshot(people, rules, withdrawn)


async def _read_dead_letters(urls: Sequence[str]) -> list[checks.DeadLetter]:
    """The parked messages, read through the first node of the cluster that answers."""
    deadline = time.monotonic() + CONNECT_PATIENCE_SECONDS
    connection = None
    while connection is None:
        for url in urls:
            try:
                connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT_SECONDS)
                break
            except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
                if time.monotonic() > deadline:
                    raise Unreachable(f"cannot reach the broker: {type(exc).__name__}: {exc}") from exc
        else:
            await asyncio.sleep(1.0)
    letters: list[checks.DeadLetter] = []
    try:
        channel = await connection.channel()
        for consumer in CONSUMER_QUEUES:
            queue = await channel.declare_queue(consumer.dlq, passive=True)
            depth = queue.declaration_result.message_count or 0
            parked = await peek(channel, consumer, min(depth, DEAD_LETTERS_LISTED)) if depth else []
            letters += [checks.DeadLetter(consumer.dlq, m.message_id, m.event_type, m.reason) for m in parked]
            letters += [
                checks.DeadLetter(consumer.dlq, "(not listed)", "", "unknown") for _ in range(depth - len(parked))
            ]
        unrouted = await channel.declare_queue(UNROUTED_QUEUE, passive=True)
        for _ in range(unrouted.declaration_result.message_count or 0):
            letters.append(checks.DeadLetter(UNROUTED_QUEUE, "(unrouted)", "", "unknown"))
    finally:
        await connection.close()
    return letters

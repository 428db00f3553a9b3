"""Issue 24 item 3: the restore drill. Payments flow; both agencies' databases are restored to an instant
T in the middle of them (`medins restore --to T`); the processes start again, the relays republish what
was unsent or may not have been consumed, the inboxes drop what was already applied, and `medins audit`
is clean once settled (R14, R21, R31, R32).

What a restore to T means for the payments after T: neither agency has them any more (tax has no
payment, insurance no coverage), while the channels took the money. The channels' records bring them
back: the reconciliation import of the day (R30) lists each of them, and nothing else, as settled by
the channel and missing on our side; the order query of R43 (workers/payment_query)
applies what the channel reports paid exactly as a notification would; here the channel's
notification is delivered again, which is what that worker does with the answer. Afterwards every
person who paid is covered, once.

The server is ops/pitr.py's (PostgreSQL 15 with WAL archiving, both databases) on a free port under
.make/; RabbitMQ is the local broker. `make test-pitr`, not part of `make test`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from medins.collection.v1 import collection_service_pb2 as col
from medins.common.v1 import common_pb2

from ops.free_ports import free_port
from ops.pitr import Instance
from services.collection.domain.model import Channel
from services.common.proto_values import date_to_proto, timestamp
from services.common.settings import Settings
from tests.e2e.clients import CollectionClient, RegistrationClient
from tests.e2e.fleet import (
    MEDINS,
    FleetStack,
    Replicas,
    audit_clean,
    bounded,
    own_system,
    payable_items,
    person,
    read,
    register_people,
    say,
)
from tests.e2e.requests import create_region, new_request_id, policy
from tests.e2e.system import ROOT, System
from tests.e2e.test_fault_campaign import LATE_AT, STANDARD_FEN, notification
from tests.support import eventually

REGION = "349910"
PEOPLE = 40
CONCURRENCY = 4


@dataclass(frozen=True)
class PitrStack(FleetStack):
    """The fleet's stack (own databases and vhost) on the drill's own PostgreSQL server."""

    port: int = 0

    def env(self) -> dict[str, str]:
        return {**super().env(), "MEDINS_PG_HOST": "127.0.0.1", "MEDINS_PG_PORT": str(self.port)}

    def settings(self, **overrides: object) -> Settings:
        return super().settings(**overrides).model_copy(update={"pg_host": "127.0.0.1", "pg_port": self.port})


@pytest.fixture(scope="module")
def server() -> Iterator[Instance]:
    directory = ROOT / ".make" / f"test-pitr-{os.getpid()}"  # traversable by the postgres user
    instance = Instance(directory, free_port())
    try:
        instance.start(say=say)
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
async def drill_system(server: Instance, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    stack = PitrStack("pitr", port=server.port)
    async with own_system("pitr", Path(tmp_path_factory.mktemp("pitr")), stack=stack) as system:
        yield system


@dataclass
class Payer:
    number: str
    enrollment_id: str
    order_id: str = ""
    transaction: str = ""


async def pay(collection: Replicas, payers: list[Payer]) -> None:
    """The channel notifies each payment, a third of them twice. A resend is the channel calling again:
    signed again when it is sent (WeChat Pay's retries carry a new timestamp and nonce; a nonce seen
    before is refused, R42), with a new request id."""

    async def one(p: Payer, k: int) -> None:
        for _ in range(2 if k % 3 == 0 else 1):
            await collection.notify(notification(Channel.WECHAT, p.order_id, p.transaction, p.number))

    await bounded([lambda p=p, k=k: one(p, k) for k, p in enumerate(payers)], CONCURRENCY)  # type: ignore[misc]


async def found(system: System, payers: list[Payer]) -> tuple[set[str], set[str]]:
    """Which of the payers' transactions tax has a payment for, and which enrollments insurance covers."""
    paid = {
        r[0]
        for r in await read(
            system,
            "tax",
            "SELECT channel_transaction_id FROM payments WHERE channel_transaction_id = ANY($1::text[])",
            [p.transaction for p in payers],
        )
    }
    covered = {
        r[0]
        for r in await read(
            system,
            "insurance",
            """SELECT enrollment_id::text FROM enrollment_years
               WHERE enrollment_id = ANY($1::uuid[]) AND status = 'COVERED'""",
            [p.enrollment_id for p in payers],
        )
    }
    return paid, covered


async def outbox_drained(system: System) -> None:
    assert await read(system, "tax", "SELECT 1 FROM outbox WHERE published_at IS NULL LIMIT 1") == []


async def covered_exactly(system: System, payers: list[Payer]) -> None:
    """Every payer's enrollment covered, by the payer's own payment."""
    rows = await read(
        system,
        "tax",
        "SELECT channel_transaction_id, payment_id::text FROM payments WHERE channel_transaction_id = ANY($1::text[])",
        [p.transaction for p in payers],
    )
    paid_by = {r[0]: r[1] for r in rows}
    years = {
        r[0]: r[1]
        for r in await read(
            system,
            "insurance",
            "SELECT enrollment_id::text, paid_by_payment_id::text FROM enrollment_years WHERE status = 'COVERED'",
        )
    }
    for p in payers:
        assert years.get(p.enrollment_id) == paid_by.get(p.transaction), p.transaction


async def missing_in_tax(collection: Replicas, system: System, payers: list[Payer]) -> set[str]:
    """Imports the channel's settlement file of the payment day (every payer's transaction, as the channel
    settled it), the day after, and returns what the report finds: transactions missing on our side (any
    other finding fails)."""
    system.set_clock(LATE_AT + dt.timedelta(days=1))
    records = [
        col.SettlementRecord(
            channel_transaction_id=p.transaction,
            order_id=p.order_id,
            amount_fen=STANDARD_FEN,
            settle_time=timestamp(LATE_AT),
            line_number=k + 1,
        )
        for k, p in enumerate(payers)
    ]
    day = date_to_proto(LATE_AT.date())
    await collection.call(
        "ImportChannelSettlement",
        col.ImportChannelSettlementRequest(
            request_id=new_request_id(),
            channel=common_pb2.PAYMENT_CHANNEL_WECHAT,
            settlement_date=day,
            records=records,
            upload_id=str(uuid.uuid4()),
            chunk_index=0,
            chunk_count=1,
        ),
    )
    report = await collection.call(
        "GetReconciliationReport",
        col.GetReconciliationReportRequest(channel=common_pb2.PAYMENT_CHANNEL_WECHAT, settlement_date=day),
    )
    system.set_clock(LATE_AT)
    assert isinstance(report, col.GetReconciliationReportResponse)
    kinds = {col.MismatchKind.Name(m.kind) for m in report.mismatches}
    assert kinds <= {"MISMATCH_KIND_MISSING_IN_TAX"}, kinds
    return {m.channel_transaction_id for m in report.mismatches}


def restore(system: System, server: Instance, instant: dt.datetime) -> str:
    done = subprocess.run(
        [str(MEDINS), "restore", "--to", instant.isoformat(), "--pitr-dir", str(server.directory),
         "--pitr-port", str(server.port)],
        env=system.env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.timeout(900)
async def test_both_agencies_restored_to_one_instant_converge_and_the_payments_after_it_come_back(
    server: Instance, drill_system: System
) -> None:
    system = drill_system
    registration = RegistrationClient(system.channel("registration"))
    collection = Replicas([CollectionClient(system.channel("collection"))])
    await create_region(
        registration,
        REGION,
        "恢复演练市",
        policy(REGION, 2024, STANDARD_FEN, (dt.date(2023, 9, 1), dt.date(2023, 12, 31))),
    )
    numbers = [person(REGION, i) for i in range(PEOPLE)]
    enrollment_ids = await register_people(registration, REGION, numbers)
    items = await payable_items(system, enrollment_ids, timeout=120)
    system.set_clock(LATE_AT)
    payers = [Payer(n, e) for n, e in zip(numbers, enrollment_ids, strict=True)]
    for k, p in enumerate(payers):
        reply = await collection.call(
            "CreateOrder",
            col.CreateOrderRequest(
                request_id=new_request_id(), payer_id_number=p.number, payable_item_ids=[items[p.enrollment_id][0]]
            ),
        )
        assert isinstance(reply, col.CreateOrderResponse)
        p.order_id, p.transaction = reply.order.order_id, f"pitr{k:04d}"
    backup = await asyncio.to_thread(server.backup, say)
    say(f"pitr: base backup {backup.name}")
    # T is taken with events of both kinds in flight: the first ten payments published but not consumed
    # (coverage stopped), the next ten committed but not even published (the tax relay stopped too).
    published, unpublished, after = payers[:10], payers[10:20], payers[20:]
    system.stop("coverage")
    await pay(collection, published)
    await eventually(lambda: outbox_drained(system), timeout=60)
    system.stop("outbox-relay-tax")
    await pay(collection, unpublished)
    restore_point = dt.datetime.now(dt.UTC)
    system.start("outbox-relay-tax")
    system.start("coverage")
    await pay(collection, after)

    async def everyone_covered() -> None:
        assert (await found(system, payers))[1] == set(enrollment_ids)

    await eventually(everyone_covered, timeout=120, interval=0.5)
    say(f"pitr: all {PEOPLE} paid and covered; restoring both agencies to T, when 20 were paid and none covered")

    names = list(system.processes)
    system.stop_all()
    started = time.monotonic()
    output = await asyncio.to_thread(restore, system, server, restore_point)
    restored_in = time.monotonic() - started
    paid_after_restore, covered_after_restore = await found(system, payers)
    # Both agencies are at T: the payments made by then are there, none covered yet; nothing after T.
    assert paid_after_restore == {p.transaction for p in published + unpublished}
    assert covered_after_restore == set()
    republished = {
        line.split(": ")[1]: int(line.split(": ")[2].split()[0])
        for line in output.splitlines()
        if "published again" in line
    }
    # Tax: the ten published before T; insurance: the forty registrations (long consumed, dropped below).
    assert republished == {"tax": len(published), "insurance": PEOPLE}, output

    logs_at_restart = {name: len(system.log_text(name)) for name in names}
    for name in names:
        system.start(name)
    await system.wait_ready(timeout=120)
    await eventually(lambda: covered_exactly(system, published + unpublished), timeout=120, interval=0.5)
    await audit_clean(system, timeout=120)
    settled_in = time.monotonic() - started
    since = {name: system.log_text(name)[logs_at_restart[name] :] for name in ("coverage", "assessment")}
    applied = since["coverage"].count('"event_applied"')
    dropped = since["assessment"].count('"event_redelivery_ignored"')
    # The twenty payments of before T became coverage now, once each; the registrations already
    # assessed before T were dropped by the assessment's inbox.
    assert applied == len(published + unpublished), applied
    assert dropped == PEOPLE, dropped
    say(
        f"pitr: restored to T in {restored_in:.1f} s, audit clean {settled_in:.1f} s after the restore began;"
        f" republished {republished}; the coverage consumer applied {applied} payments of before T, the"
        f" assessment's inbox dropped {dropped} events it had applied; the {len(after)} payments after T are gone"
    )

    # The payments after T: the channel's records bring them back. The reconciliation import of the day
    # (R30) lists each of them, and nothing else, as money the channel settled that we have no payment for.
    lost = [p for p in payers if p.transaction not in paid_after_restore]
    missing = await missing_in_tax(collection, system, payers)
    assert missing == {p.transaction for p in after}, missing
    await pay(collection, lost)
    await eventually(everyone_covered, timeout=120, interval=0.5)
    await audit_clean(system, timeout=120)
    paid_in_the_end, _ = await found(system, payers)
    assert paid_in_the_end == {p.transaction for p in payers}
    say(f"pitr: the {len(lost)} payments lost with T delivered again by the channel; all {PEOPLE} covered, once")
